package nvidia

import (
	"strings"
	"testing"
)

// TestPluginForGPUAndDriver: NVML's answers for Discovery's GPUs (P100 sm_60, V100 sm_70, A100 sm_80, H100
// sm_90) on an R535 driver (CUDA 12.2) and an R580 one (CUDA 13.0) pick the plugin CUDA 13 and CUDA 12 allow,
// and the advice names the GPU, its architecture and the pip command.
func TestPluginForGPUAndDriver(t *testing.T) {
	t.Setenv("CUDA_VISIBLE_DEVICES", "")
	t.Setenv(DeviceOrderEnv, "PCI_BUS_ID")
	gpus := []struct {
		name         string
		major, minor int
	}{
		{"Tesla P100-PCIE-12GB", 6, 0}, {"Tesla V100-SXM2-32GB", 7, 0}, {"NVIDIA A100-SXM4-80GB", 8, 0}, {"NVIDIA H100 80GB HBM3", 9, 0},
	}
	for _, g := range gpus {
		for _, drv := range []struct {
			version string
			cuda    int
		}{{"535.104.05", 12020}, {"580.65.06", 13000}} {
			info := &nvmlInfo{Driver: drv.version, CUDA: drv.cuda, GPUs: []nvmlGPU{
				{Index: 0, UUID: "GPU-a", Name: g.name, BusID: "00000000:3B:00.0", Minor: 0, CCMajor: g.major, CCMinor: g.minor},
				{Index: 1, UUID: "GPU-b", Name: g.name, BusID: "00000000:5E:00.0", Minor: 1, CCMajor: g.major, CCMinor: g.minor},
			}}
			fakeNode(t, info, 2)
			t.Setenv("CUDA_VISIBLE_DEVICES", "0,1")
			p := Detect()
			cc := g.major*10 + g.minor
			if p.Count != 2 || p.CC != cc || p.GPUName != g.name {
				t.Fatalf("%s on %s: presence %+v", g.name, drv.version, p)
			}
			want := 12
			if cc >= 75 && drv.cuda >= 13000 {
				want = 13
			}
			got, why := p.PluginCUDA()
			if got != want {
				t.Errorf("%s (sm_%d), driver %s: want CUDA %d, got %d (%s)", g.name, cc, drv.version, want, got, why)
			}
			advice := p.PluginAdvice()
			for _, w := range []string{g.name, SMName(cc), "needs CUDA " + itoa(want), PipInstall(want)} {
				if !strings.Contains(advice, w) {
					t.Errorf("%s, driver %s: advice %q lacks %q", g.name, drv.version, advice, w)
				}
			}
			if cc < 75 && !strings.Contains(advice, "CUDA 13 supports compute capability 7.5 (sm_75) and newer") {
				t.Errorf("%s: the advice must say why not CUDA 13: %q", g.name, advice)
			}
			if cc >= 75 && drv.cuda < 13000 && !strings.Contains(advice, "CUDA 13 needs driver R580") {
				t.Errorf("%s on %s: the advice must say the driver is too old for CUDA 13: %q", g.name, drv.version, advice)
			}
			if r13 := p.RefusesCUDA(13); (cc < 75) != (r13 != "") {
				t.Errorf("%s: RefusesCUDA(13) = %q", g.name, r13)
			}
			if r12 := p.RefusesCUDA(12); r12 != "" {
				t.Errorf("%s: CUDA 12 runs on it, but RefusesCUDA(12) = %q", g.name, r12)
			}
		}
	}
}

// TestPluginForMixedAndUnknown: on a node mixing a V100 and an A100 the V100 decides; a CUDA 11 driver runs
// no plugin, and says why; an unknown GPU and driver get CUDA 12, which runs everywhere.
func TestPluginForMixedAndUnknown(t *testing.T) {
	info := &nvmlInfo{Driver: "580.65.06", CUDA: 13000, GPUs: []nvmlGPU{
		{Index: 0, UUID: "GPU-a", Name: "NVIDIA A100-PCIE-40GB", BusID: "00000000:3B:00.0", Minor: 0, CCMajor: 8},
		{Index: 1, UUID: "GPU-b", Name: "Tesla V100-PCIE-32GB", BusID: "00000000:5E:00.0", Minor: 1, CCMajor: 7},
	}}
	fakeNode(t, info, 2)
	t.Setenv("CUDA_VISIBLE_DEVICES", "0,1")
	t.Setenv(DeviceOrderEnv, "PCI_BUS_ID")
	p := Detect()
	if p.CC != 70 || p.GPUName != "Tesla V100-PCIE-32GB" {
		t.Fatalf("the oldest GPU must decide: %+v", p)
	}
	if c, _ := p.PluginCUDA(); c != 12 {
		t.Errorf("V100 beside an A100: want CUDA 12, got %d", c)
	}
	t.Setenv("CUDA_VISIBLE_DEVICES", "0") // only the A100
	if p := Detect(); p.CC != 80 {
		t.Errorf("CUDA_VISIBLE_DEVICES=0 leaves the A100 alone: %+v", p)
	} else if c, _ := p.PluginCUDA(); c != 13 {
		t.Errorf("A100 on R580: want CUDA 13, got %d", c)
	}

	old := Presence{Count: 1, CC: 70, GPUName: "Tesla V100-SXM2-16GB", DriverCUDA: 11040}
	if c, why := old.PluginCUDA(); c != 0 || !strings.Contains(why, "CUDA 12 needs driver 525.60.13") || !strings.Contains(why, "CUDA 11.4") {
		t.Errorf("a CUDA 11.4 driver: got CUDA %d (%s)", c, why)
	}
	if a := old.PluginAdvice(); !strings.Contains(a, "no CUDA plugin can run on Tesla V100-SXM2-16GB (sm_70)") {
		t.Errorf("advice on a CUDA 11.4 driver: %q", a)
	}
	unknown := Presence{DeviceFiles: 1}
	if c, _ := unknown.PluginCUDA(); c != 12 {
		t.Errorf("unknown GPU and driver: want CUDA 12, got %d", c)
	}
	if a := unknown.PluginAdvice(); !strings.Contains(a, PipInstall(12)) || !strings.Contains(a, "driver's CUDA version is unknown") {
		t.Errorf("unknown GPU and driver: %q", a)
	}
}

func itoa(n int) string { return SMName(n)[3:] }
