package platform

import (
	"fmt"

	"github.com/gomlx/compute"
)

// fakeCUDA answers the questions the package asks a backend as XLA on CUDA would; nothing else works.
type fakeCUDA struct {
	compute.Backend // nil: any other method panics
	n               int
}

func (f fakeCUDA) Name() string        { return "xla" }
func (f fakeCUDA) String() string      { return "xla" }
func (f fakeCUDA) Description() string { return "XLA/PJRT cuda plugin" }
func (f fakeCUDA) NumDevices() int     { return f.n }
func (f fakeCUDA) DeviceDescription(d compute.DeviceNum) string {
	return fmt.Sprintf("cuda:%d", d)
}

func (f fakeCUDA) IsCUDA() bool { return true }
func (f fakeCUDA) IsCPU() bool  { return false }

// fakeXLACPU is XLA's CPU plugin loaded from a folder whose words suggest a GPU, as gonbgpu's own .venv
// does (~/gonbgpu/.venv/…): go-xla knows it as the "cpu" plugin.
type fakeXLACPU struct {
	compute.Backend // nil: any other method panics
}

func (f fakeXLACPU) Name() string   { return "xla" }
func (f fakeXLACPU) String() string { return "xla" }
func (f fakeXLACPU) Description() string {
	return "xla:cpu - PJRT \"cpu\" plugin (/home/u/gonbgpu-cuda-course/.venv/lib/python3.11/site-packages/fastatomstruct_xla_cpu/libpjrt_cpu.so) v0.106 [4 device(s)]"
}
func (f fakeXLACPU) NumDevices() int                              { return 4 }
func (f fakeXLACPU) DeviceDescription(d compute.DeviceNum) string { return fmt.Sprintf("cpu:%d", d) }
func (f fakeXLACPU) IsCUDA() bool                                 { return false }
func (f fakeXLACPU) IsCPU() bool                                  { return true }
