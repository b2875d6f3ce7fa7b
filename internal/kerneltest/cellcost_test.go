package kerneltest_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/internal/kerneltest"
)

// cellKinds are the cells BenchmarkCellCost times, each in a kernel of its own: GoNB keeps a cell's
// imports for the cells after it, so a kernel that once imported package gpu links it into every later
// cell. Each has the imports its first cell declares, and the body of the cells timed, with %d for a
// number that makes every cell new, as a student's next cell is.
var cellKinds = []struct{ name, imports, body string }{
	{"plain", `import "fmt"`, `fmt.Println(%d)`},
	// A cell that shows a tensor: GoMLX's tensors and package kernel, no backend.
	{"kernel", "import (\n\t\"github.com/gomlx/gomlx/core/tensors\"\n\t\"github.com/gonbgpu/gonbgpu/kernel\"\n)",
		`kernel.ShowTensor("x", tensors.FromValue([]float32{1, 2, %d}))`},
	// A cell that computes: package gpu chooses and creates the backend (go-xla's and NVML's cgo link).
	{"gpu", "import (\n\t\"fmt\"\n\n\t\"github.com/gonbgpu/gonbgpu/gpu\"\n)",
		`fmt.Println(gpu.Backend().NumDevices() + %d)`},
}

// BenchmarkCellCost measures what a new cell costs through the installed kernel, from submission until
// the kernel is idle again (GoNB writes, compiles and links each cell as a new program, and runs it): a
// plain Go cell, a cell that imports GoMLX's tensors and package kernel to show a tensor, and a cell that
// imports package gpu. The target: the kernel cell within 3× the plain one (kernel/ links no GPU
// discovery; internal/archtest's TestKernelIsCheapToLink holds that rule). On the pure-Go backend, as the
// other kernel tests; each kind is warmed up first (the module and build caches). Run it with
//
//	go test ./internal/kerneltest -run '^$' -bench CellCost -benchtime 5x
func BenchmarkCellCost(b *testing.B) {
	data := kerneltest.Install(b)
	medians := map[string]float64{}
	for _, kind := range cellKinds {
		k := kerneltest.Start(b, data)
		cell := func(i int) float64 {
			code := "%%\n" + fmt.Sprintf(kind.body, i)
			if i < 0 {
				code = kind.imports + "\n\n" + code
			}
			r := k.Run(b, code, kerneltest.RunOptions{})
			if r.Status != "ok" || len(r.Errors()) > 0 {
				b.Fatalf("%s cell %d: %s\n%s", kind.name, i, r, k.Log(40))
			}
			return r.Seconds
		}
		cell(-1) // the imports, and the caches warm
		var secs []float64
		for i := range b.N {
			secs = append(secs, cell(i))
		}
		slices.Sort(secs)
		medians[kind.name] = secs[len(secs)/2]
		b.ReportMetric(medians[kind.name], kind.name+"-s/cell")
	}
	ratio := medians["kernel"] / medians["plain"]
	b.ReportMetric(ratio, "kernel/plain")
	var line strings.Builder
	fmt.Fprintf(&line, "a new cell, median of %d, through the installed kernel (pure-Go backend):", b.N)
	for _, kind := range cellKinds {
		fmt.Fprintf(&line, " %s %.2f s (%.1f×)", kind.name, medians[kind.name], medians[kind.name]/medians["plain"])
	}
	fmt.Fprintf(&line, "; target: kernel ≤ 3× plain, %s", map[bool]string{true: "met", false: "NOT met"}[ratio <= 3])
	b.Log(line.String())
}
