package notebooks_test

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/internal/ipynb"
)

func init() { checks["02-device-placement.ipynb"] = check02 }

// check02 asserts chapter 02's key facts (Devices and placement) from its executed outputs, on whichever
// CPU or GPU backend made them: the committed outputs come from xla:cpu, TestNotebooks runs the pure-Go one.
func check02(t *testing.T, nb *ipynb.Notebook, text string) {
	mustContain(t, text, "GPU available:", "host→device", `class="gonbgpu-devices"`, "MaterializeOnDevice(backend, false, 0)",
		"computed on device 0", "the fixed cost of one run",
		"(4.0 MiB): fits", "(1.0 TiB): does not fit", "gonbgpu: not enough memory: needs 1.0 TiB")
	figuresLabelled(t, text)
	mustPlot(t, text, 3)
	backend := backendOf(text)
	onCPU := backend == "go" || backend == "xla:cpu"
	ch02Cores(t, text, backend)
	ch02Devices(t, text)
	ch02Transfers(t, text)
	ch02KeepOnDevice(t, text)
	ch02Timing(t, text, backend)
	ch02Pitfalls(t, text, onCPU)
	if onCPU {
		ch02MemorySteps(t, text)
	}
	ch02MemoryAgainstBatch(t, text, onCPU)
	ch02BFloat16(t, text, onCPU)
}

// ch02Cores: the pure-Go backend's parallelism is 2 × GOMAXPROCS, as the chapter says; XLA's CPU devices are
// as many as the backend line says.
func ch02Cores(t *testing.T, text, backend string) {
	t.Helper()
	switch backend {
	case "go":
		m := mustMatch(t, text, `parallelism=(\d+) is GoMLX's default for its pure-Go backend, 2 × GOMAXPROCS = 2 × (\d+) = (\d+) worker`)
		d := mustMatch(t, text, `backend:\s+go \(Go Portable Compute Backend \(parallelism=(\d+)\)\)`)
		if m != nil && d != nil && (m[1] != m[3] || 2*atoi(m[2]) != atoi(m[3]) || m[1] != d[1]) {
			t.Errorf("the parallelism explained (%q) is not the backend's (%q) or not 2 × GOMAXPROCS", m[0], d[0])
		}
	case "xla:cpu":
		m := mustMatch(t, text, `XLA's CPU plugin shows (\d+) devices on (\d+) cores`)
		d := mustMatch(t, text, `(?m)^devices:\s+(\d+)$`)
		if m != nil && d != nil && m[1] != d[1] {
			t.Errorf("%q against %q", m[0], d[0])
		}
	}
}

// ch02Devices: with several devices, tensors on two of them met and the cell said what happened.
func ch02Devices(t *testing.T, text string) {
	t.Helper()
	m := mustMatch(t, text, `this backend has (\d+) device\(s\), numbered 0 to (\d+)`)
	if m == nil {
		return
	}
	if n := atoi(m[1]); n >= 2 {
		if !strings.Contains(text, "GoMLX refused to run a graph on device 0") && !strings.Contains(text, "a graph on device 0 took x") {
			t.Errorf("%d devices, but the cell where tensors on two devices meet reports neither outcome", n)
		}
	} else {
		mustContain(t, text, "no two devices can meet here")
	}
}

// ch02Transfers: the transfer table grows in time with the size, and the lines under it say truly whether the
// times and the rates grew at every step.
func ch02Transfers(t *testing.T, text string) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^\s*([0-9.]+ (?:B|KiB|MiB|GiB))\s+([0-9.]+) ms\s+([0-9.]+)\s+([0-9.]+) ms\s+([0-9.]+)\s+([0-9.]+)$`)
	rows := re.FindAllStringSubmatch(text, -1)
	if len(rows) != 5 {
		t.Fatalf("transfer table has %d rows, want 5", len(rows))
	}
	col := func(i int) []float64 {
		var xs []float64
		for _, r := range rows {
			xs = append(xs, atof(r[i]))
		}
		return xs
	}
	// increasing says whether xs grows at every step, as printed: "true", "false", or `(true|false)` where
	// the rounding of the table hides the answer (two equal figures).
	increasing := func(xs []float64) string {
		tie := false
		for i := 1; i < len(xs); i++ {
			if xs[i] < xs[i-1] {
				return "false"
			}
			tie = tie || xs[i] == xs[i-1]
		}
		if tie {
			return "(true|false)"
		}
		return "true"
	}
	upMs, up, downMs, down, copies := col(2), col(3), col(4), col(5), col(6)
	for _, want := range []string{
		fmt.Sprintf("time grows with size at every step: host→device %s, device→host %s", increasing(upMs), increasing(downMs)),
		fmt.Sprintf("rate grows with size at every step: host→device %s, device→host %s", increasing(up), increasing(down)),
		fmt.Sprintf("over the same sizes; rate grows at every step: %s", increasing(copies)),
	} {
		if !regexp.MustCompile(want).MatchString(text) {
			t.Errorf("the transfer table's summary does not match %q, which its rows show", want)
		}
	}
	if upMs[4] < 50*upMs[0] || downMs[4] < 50*downMs[0] {
		t.Errorf("64 MiB should take far longer than 4 KiB: %v / %v ms to the device, %v / %v ms back", upMs[4], upMs[0], downMs[4], downMs[0])
	}
}

// ch02KeepOnDevice: keeping the data on the device beats reading each step back, and the ratio printed is
// the two times'.
func ch02KeepOnDevice(t *testing.T, text string) {
	t.Helper()
	trip := mustMatch(t, text, `every result read back to the host:\s+([0-9.]+) ms`)
	kept := mustMatch(t, text, `kept on the device:\s+([0-9.]+) ms`)
	ratio := mustMatch(t, text, `keeping the data on the device was ([0-9.]+)x faster`)
	if trip == nil || kept == nil || ratio == nil {
		return
	}
	tr, k, r := atof(trip[1]), atof(kept[1]), atof(ratio[1])
	if k <= 0 || tr <= k {
		t.Errorf("keeping the data on the device (%v ms) should beat reading it back each step (%v ms)", k, tr)
	}
	if math.Abs(tr/k-r) > 0.06 {
		t.Errorf("the ratio printed (%v) is not %v / %v", r, tr, k)
	}
}

// ch02Timing: the same graph over growing sizes, on the pure-Go backend and beside it on XLA when that is the
// backend chosen.
func ch02Timing(t *testing.T, text, backend string) {
	t.Helper()
	mustContain(t, text, "     n   pure Go (ms)")
	re := regexp.MustCompile(`(?m)^\s*(\d+)\s+(\d+\.\d+)(?:\s+(\d+\.\d+)\s+(\d+\.\d+)x)?$`)
	rows := re.FindAllStringSubmatch(text, -1)
	if len(rows) < 7 {
		t.Fatalf("timing table has %d rows", len(rows))
	}
	prevN := 0
	for _, r := range rows {
		n, ms := atoi(r[1]), atof(r[2])
		if n <= prevN || ms <= 0 || (backend != "go") != (r[3] != "") {
			t.Errorf("bad timing row %q on backend %s", r[0], backend)
		}
		prevN = n
	}
	if last, first := atof(rows[len(rows)-1][2]), atof(rows[0][2]); last < 10*first {
		t.Errorf("the largest size (%v ms) should take far longer than the smallest (%v ms)", last, first)
	}
}

// ch02Pitfalls: a first call (compiling) and a new shape's first call take longer than the right figure; the
// sentence on Exec's return agrees with its numbers, and on a CPU Exec returns with the work done.
func ch02Pitfalls(t *testing.T, text string, onCPU bool) {
	t.Helper()
	row := func(what string) float64 {
		m := mustMatch(t, text, `(?m)^`+regexp.QuoteMeta(what)+`.*?\s([0-9.]+)\s+([0-9.]+)x$`)
		if m == nil {
			return math.NaN()
		}
		return atof(m[1])
	}
	first, newShape := row("wrong: the first call (compile + run)"), row("wrong: the first call with a new shape")
	notRead, right := row("wrong: Exec returned, result not read"), row("right: warmed up, result read")
	if !(first > right) || !(newShape > right) {
		t.Errorf("a first call (%v ms) and a new shape's first call (%v ms) should take longer than the right figure (%v ms)", first, newShape, right)
	}
	if m := mustMatch(t, text, `Exec returned after ([0-9.]+) ms and the result was read after ([0-9.]+) ms \(medians\): Exec returned (before|with)`); m != nil {
		if early := atof(m[1]) < atof(m[2])/2; early != (m[3] == "before") {
			t.Errorf("%q does not follow from its numbers", m[0])
		}
		if onCPU && m[3] != "with" {
			t.Errorf("the chapter says a CPU backend computes inside Exec, but: %q", m[0])
		}
	}
	if onCPU && math.Abs(notRead/right-1) > 0.25 {
		t.Errorf("on a CPU the chapter says the 'not read' row (%v ms) equals the right one (%v ms)", notRead, right)
	}
}

// ch02MemorySteps: on a CPU, the process's resident memory follows the 256 MiB tensor: nothing for zeros
// never written, +256 MiB to fill it, +256 MiB for the device's copy, −512 MiB to free both.
func ch02MemorySteps(t *testing.T, text string) {
	t.Helper()
	want := []struct {
		step string
		mib  float64
	}{{"1. a 256 MiB tensor made on the host", 0}, {"2. filled with ones", 256}, {"3. MaterializeOnDevice", 256}, {"4. FinalizeAll", -512}}
	for _, w := range want {
		m := mustMatch(t, text, `(?m)^`+regexp.QuoteMeta(w.step)+`.*?\s([+-][0-9.]+) MiB\s+([+-][0-9.]+) MiB$`)
		if m != nil && math.Abs(atof(m[1])-w.mib) > 8 {
			t.Errorf("step %q: resident memory moved by %s MiB, the chapter says %+.0f", w.step, m[1], w.mib)
		}
	}
}

// ch02MemoryAgainstBatch: batches double; every step run was checked first and measured, on a CPU to within a
// few percent of its shapes' bytes; the first step CheckFits refuses is the last row, and its error names
// what it needed.
func ch02MemoryAgainstBatch(t *testing.T, text string, onCPU bool) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^\s*(\d+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+|—)\s+(fits; run|fits; not run|does not fit)`)
	rows := re.FindAllStringSubmatch(text, -1)
	if len(rows) < 5 {
		t.Fatalf("memory table has %d rows", len(rows))
	}
	run := 0
	for i, r := range rows {
		b, input, acts := atoi(r[1]), atof(r[2]), atof(r[3])
		if i > 0 && b != 2*atoi(rows[i-1][1]) {
			t.Errorf("row %q: batches should double", r[0])
		}
		if math.Abs(input-float64(b)*1024*4/(1<<20)) > 0.1 || math.Abs(acts-4*input) > 0.1 {
			t.Errorf("row %q: input and activations are not B×1024 and 4×B×1024 float32s", r[0])
		}
		switch r[5] {
		case "fits; run":
			run++
			if got := atof(r[4]); onCPU && math.Abs(got-acts) > math.Max(1, 0.05*acts) {
				t.Errorf("row %q: %v MiB measured against %v MiB by the shapes", r[0], got, acts)
			}
		case "does not fit":
			if i != len(rows)-1 {
				t.Errorf("row %q: the table should stop at the first step that does not fit", r[0])
			}
		}
	}
	if run < 4 {
		t.Errorf("%d steps run, want at least 4", run)
	}
	last := rows[len(rows)-1]
	if last[5] != "does not fit" {
		t.Fatalf("the memory table ends with %q, not with a step that does not fit", last[0])
	}
	need := atof(last[2]) + atof(last[3])
	m := mustMatch(t, text, `gpu.CheckFits said: gonbgpu: not enough memory: needs ([0-9.]+) (MiB|GiB|TiB) but device 0 \([^)]*\) has ([0-9.]+) (MiB|GiB|TiB) free`)
	if m == nil {
		return
	}
	unit := map[string]float64{"MiB": 1, "GiB": 1024, "TiB": 1024 * 1024}
	if got := atof(m[1]) * unit[m[2]]; math.Abs(got-need) > 0.01*need {
		t.Errorf("CheckFits refused %v MiB, the row needs %v MiB", got, need)
	}
	if free := atof(m[3]) * unit[m[4]]; free >= need || free < need/2 {
		t.Errorf("CheckFits refused %v MiB with %v MiB free: the step before (half as much) should have been refused too, or this one fit", need, free)
	}
}

// ch02BFloat16: bf16 halves the bytes and loses precision as its 7 fraction bits say; float16 lies between; on
// a CPU bf16 is no faster than float32, as the chapter says.
func ch02BFloat16(t *testing.T, text string, onCPU bool) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^(Float32|BFloat16|Float16)\s+([0-9.]+) (B|KiB|MiB|GiB)\s+([0-9.]+)\s+([0-9.]+)x\s+([0-9.]+e[+-]\d+)$`)
	rows := map[string][]string{}
	for _, r := range re.FindAllStringSubmatch(text, -1) {
		rows[r[1]] = r
	}
	f32, bf16, f16 := rows["Float32"], rows["BFloat16"], rows["Float16"]
	if f32 == nil || bf16 == nil || f16 == nil {
		t.Fatalf("bf16 table incomplete: %v", rows)
	}
	unit := map[string]float64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
	bytesOf := func(r []string) float64 { return atof(r[2]) * unit[r[3]] }
	if bytesOf(bf16) != bytesOf(f32)/2 || bytesOf(f16) != bytesOf(f32)/2 {
		t.Errorf("16-bit tensors should take half float32's bytes: %s, %s against %s %s", bf16[2]+bf16[3], f16[2]+f16[3], f32[2], f32[3])
	}
	e32, ebf, e16 := atof(f32[6]), atof(bf16[6]), atof(f16[6])
	if !(e32 < 1e-5 && ebf > 1e-3 && ebf < 1e-2 && e16 > 10*e32 && e16 < ebf/3) {
		t.Errorf("relative errors float32 %g, bfloat16 %g, float16 %g: want ~1e-7, a few 1e-3, and between", e32, ebf, e16)
	}
	if onCPU && atof(bf16[5]) < 1 {
		t.Errorf("the chapter says bf16 gains no time on a CPU, but it took %sx float32's", bf16[5])
	}
	mustContain(t, text, "in float32, 1        in bfloat16", "in bfloat16, +Inf in float16", "3.140625 in bfloat16")
}
