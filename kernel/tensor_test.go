package kernel

import (
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gonbgpu/gonbgpu/gpu/platform"
)

func TestTensorTextSmall(t *testing.T) {
	x := tensors.FromValue([][]float32{{1, 2.5, 3}, {-4, 5, 6}})
	got := TensorText(x, TensorOptions{Name: "x"})
	want := "x: float32[2,3] on host\n   1  2.5  3\n  -4    5  6\n"
	if got != want {
		t.Fatalf("TensorText:\n%q\nwant\n%q", got, want)
	}
}

func TestTensorScalarAndSpecialValues(t *testing.T) {
	s := TensorText(tensors.FromScalar(int32(7)), TensorOptions{})
	if !strings.HasPrefix(s, "int32[] on host") || !strings.Contains(s, "7") {
		t.Fatalf("scalar: %q", s)
	}
	v := TensorText(tensors.FromValue([]float64{math.NaN(), math.Inf(1), math.Inf(-1), 1.0 / 3}), TensorOptions{Digits: 3})
	for _, w := range []string{"NaN", "+Inf", "-Inf", "0.333"} {
		if !strings.Contains(v, w) {
			t.Errorf("missing %q in %q", w, v)
		}
	}
}

func TestTensorElision(t *testing.T) {
	data := make([]int32, 50*40)
	for i := range data {
		data[i] = int32(i)
	}
	x := tensors.FromFlatDataAndDimensions(data, 50, 40)
	h := TensorHTML(x, TensorOptions{Name: "big", MaxElements: 100, Edge: 2})
	if !strings.Contains(h, "big: int32[50,40] on host") || !strings.Contains(h, "2000 values") {
		t.Fatalf("caption missing: %s", h)
	}
	// Corners are shown, the middle is not.
	for _, w := range []string{">0<", ">1<", ">38<", ">39<", ">1999<", ">1960<", "…", "⋮"} {
		if !strings.Contains(h, w) {
			t.Errorf("missing %q", w)
		}
	}
	if strings.Contains(h, ">1000<") {
		t.Errorf("value from the middle was not elided")
	}
	if n := strings.Count(h, "<tr>"); n != 5 {
		t.Errorf("want 5 rows (2 + ⋮ + 2), got %d", n)
	}
}

func TestTensorRank3Blocks(t *testing.T) {
	x := tensors.FromValue([][][]int8{{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}})
	s := TensorText(x, TensorOptions{})
	if !strings.Contains(s, "[0, :, :]") || !strings.Contains(s, "[1, :, :]") || !strings.Contains(s, "8") {
		t.Fatalf("rank-3 layout: %q", s)
	}
}

func TestHTMLEscapes(t *testing.T) {
	h := TensorHTML(tensors.FromValue([]float32{1}), TensorOptions{Name: "<script>"})
	if strings.Contains(h, "<script>") {
		t.Fatalf("name not escaped: %s", h)
	}
}

func TestDevicesHTML(t *testing.T) {
	devs := []platform.Device{{Index: 0, Kind: platform.GPU, Name: "NVIDIA H100 80GB HBM3", MemoryTotal: 80 << 30, MemoryFree: 79 << 30, Source: "nvml"},
		platform.Host()}
	h := DevicesHTML("backend xla:cuda", devs)
	for _, w := range []string{"NVIDIA H100 80GB HBM3", "1.0 GiB / 80.0 GiB", "<th", "host", "backend xla:cuda"} {
		if !strings.Contains(h, w) {
			t.Errorf("device table lacks %q:\n%s", w, h)
		}
	}
	if n := strings.Count(h, "<tr>"); n != 3 {
		t.Errorf("want header + 2 rows, got %d", n)
	}
}

func TestConfusion(t *testing.T) {
	classes := []string{"cat", "dog"}
	counts := [][]int64{{8, 2}, {1, 9}}
	h := ConfusionHTML(classes, counts)
	for _, w := range []string{"cat", "dog", ">8<", ">9<", "0.80", "0.90", `class="gonbgpu-confusion"`} {
		if !strings.Contains(h, w) {
			t.Errorf("confusion HTML lacks %q", w)
		}
	}
	txt := ConfusionText(classes, counts)
	if !strings.Contains(txt, "   cat      8      2") {
		t.Errorf("confusion text:\n%s", txt)
	}
}

func TestTextTwin(t *testing.T) {
	h := TensorHTML(tensors.FromValue([][]float32{{1, 2}, {30, 4}}), TensorOptions{Name: "x"})
	if got, want := TextTwin(h), "x: float32[2,2] on host\n1  2\n30  4"; got != want {
		t.Errorf("TextTwin = %q, want %q", got, want)
	}
}
