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
