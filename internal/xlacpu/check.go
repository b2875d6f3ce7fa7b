package xlacpu

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/gobackend"
	"github.com/gomlx/go-xla/compute/xla"
	"github.com/gomlx/go-xla/pjrt"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gonbgpu/gonbgpu/internal/pjrtapi"
)

// Report is what [Check] found out about a plugin.
type Report struct {
	// API is the plugin's PJRT C API version and table size.
	API pjrtapi.API

	// Platform and PlatformVersion are what a PJRT client of the plugin calls its platform ("cpu") and
	// its version.
	Platform, PlatformVersion string `json:",omitempty"`

	// Devices is the number of devices a client made with default options has.
	Devices int `json:",omitempty"`

	// Err, when set, says in one line why gonbgpu cannot use the plugin.
	Err string `json:",omitempty"`
}

// Usable reports whether the check passed.
func (r Report) Usable() bool { return r.Err == "" }

// CheckVersion names what [Check] does; a verdict kept from a check that did something else is not
// reused (package gpu/plugin keys its cache with it).
const CheckVersion = "conv-dot-reduce-exp f32 bf16, v1"

// checkDevices is the device count of the backend the check computes on: two, so that the check also
// makes a client with several devices, as training does.
const checkDevices = 2

// Check loads the XLA CPU plugin at path into this process and tries it the way training uses it (see
// [CheckPlatform]).
func Check(path string) Report { return CheckPlatform(path, Name) }

// CheckPlatform loads the plugin at path into this process and tries it the way training uses it: its
// PJRT API must be one go-xla can call, a client of it must say its platform is platform ("cpu", "cuda"),
// and a small graph of what training computes (a convolution, a dot product, a reduction and an
// exponential, in float32 and in bfloat16) must compile and agree with the pure-Go backend's results.
// It is meant for a child process (see package gpu/plugin): a plugin that crashes takes only the child
// down. The check lives here because XLA's CPU plugin needed it first; package gpu/plugin asks the same
// of a CUDA plugin, which is registered with go-xla under its platform's name, as go-xla names it.
func CheckPlatform(path, platform string) (r Report) {
	defer func() {
		if p := recover(); p != nil {
			r.Err = firstLine(fmt.Sprint(p))
		}
	}()
	api, table, err := pjrtapi.Load(path)
	r.API = api
	if err != nil {
		r.Err = "cannot load it: " + firstLine(err.Error())
		return r
	}
	if err := api.Compatible(); err != nil {
		r.Err = err.Error()
		return r
	}
	if err := pjrt.RegisterPreloadedPlugin(platform, table); err != nil {
		r.Err = "go-xla cannot initialise it: " + firstLine(err.Error())
		return r
	}
	if platform == Name {
		loadMu.Lock()
		loaded = path
		loadMu.Unlock()
	}
	p, err := pjrt.GetPlugin(platform)
	if err != nil {
		r.Err = firstLine(err.Error())
		return r
	}
	client, err := p.NewClient(nil)
	if err != nil {
		r.Err = "cannot create a client: " + firstLine(err.Error())
		return r
	}
	r.Platform, r.PlatformVersion, r.Devices = client.Platform(), client.PlatformVersion(), len(client.AddressableDevices())
	_ = client.Destroy()
	if !strings.EqualFold(r.Platform, platform) {
		r.Err = fmt.Sprintf("it is a %q plugin, not a %q one", r.Platform, platform)
		return r
	}
	var b compute.Backend
	if platform == Name {
		b, err = New(Options{Plugin: path, Devices: checkDevices})
	} else {
		xla.EnableAutoInstall(false)
		b, err = xla.NewWithOptions(platform, nil)
	}
	if err != nil {
		r.Err = firstLine(err.Error())
		return r
	}
	defer b.Finalize()
	if err := compareWithHost(b); err != nil {
		r.Err = firstLine(err.Error())
	}
	return r
}

// compareWithHost runs the check graph on b and on the pure-Go backend, in float32 and bfloat16.
func compareWithHost(b compute.Backend) error {
	host, err := gobackend.New("")
	if err != nil {
		return err
	}
	defer host.Finalize()
	for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.BFloat16} {
		tol := 1e-4
		if dt == dtypes.BFloat16 {
			tol = 3e-2
		}
		fn := func(x, k, w *graph.Node) *graph.Node {
			x, k, w = graph.ConvertDType(x, dt), graph.ConvertDType(k, dt), graph.ConvertDType(w, dt)
			y := graph.Convolve(x, k).PadSame().Done()                               // [2, 5, 5, 4]
			m := graph.ReduceMean(y, 1, 2)                                           // [2, 4]
			return graph.ConvertDType(graph.Exp(graph.MatMul(m, w)), dtypes.Float32) // [2, 3]
		}
		// Fresh inputs for each backend: a tensor keeps a copy on the device it was last used on.
		x, k, w := checkInputs()
		got, err := graph.ExecOnce(b, fn, x, k, w)
		if err != nil {
			return fmt.Errorf("%s graph: %w", dt, err)
		}
		x, k, w = checkInputs()
		want, err := graph.ExecOnce(host, fn, x, k, w)
		if err != nil {
			return fmt.Errorf("%s graph on the pure-Go backend: %w", dt, err)
		}
		g, h := tensors.MustCopyFlatData[float32](got), tensors.MustCopyFlatData[float32](want)
		for i := range h {
			if d := math.Abs(float64(g[i] - h[i])); d > tol*math.Max(1, math.Abs(float64(h[i]))) || math.IsNaN(float64(g[i])) {
				return fmt.Errorf("%s results differ from the pure-Go backend's: element %d is %g, want %g", dt, i, g[i], h[i])
			}
		}
	}
	return nil
}

// checkInputs are small deterministic inputs of the check graph.
func checkInputs() (x, k, w *tensors.Tensor) {
	fill := func(n int, scale float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(scale * math.Sin(float64(i)*0.37+0.1))
		}
		return v
	}
	return tensors.FromFlatDataAndDimensions(fill(2*5*5*3, 1), 2, 5, 5, 3),
		tensors.FromFlatDataAndDimensions(fill(3*3*3*4, 0.3), 3, 3, 3, 4),
		tensors.FromFlatDataAndDimensions(fill(4*3, 0.5), 4, 3)
}

// Answer is a child process's side of a check: it checks the plugin at path for platform (see
// [CheckPlatform]) and writes the [Report] to stdout as JSON. It returns the exit status.
func Answer(path, platform string, stdout, stderr io.Writer) int {
	r := CheckPlatform(path, platform)
	if err := json.NewEncoder(stdout).Encode(r); err != nil {
		fmt.Fprintf(stderr, "gonbgpu: %v\n", err)
		return 3
	}
	return 0
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
