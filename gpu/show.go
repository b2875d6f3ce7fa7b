package gpu

import (
	"fmt"

	"github.com/gonbgpu/gonbgpu/gpu/platform"
	"github.com/gonbgpu/gonbgpu/kernel"
)

// ShowDevices displays the backend chosen (and why) and the table of its devices: HTML in a notebook, the
// nvidia-smi-like text table elsewhere. It creates the backend if no cell code has yet. It lives here,
// not in package kernel, so that a cell that only shows tensors does not link the device discovery
// (NVML, the plugins, go-xla's loader): that link is most of a cell's compile time.
func ShowDevices() {
	choice, err := Default()
	if err != nil {
		kernel.ShowError(err)
		return
	}
	devs := MachineDevices(choice.Backend) // as they are now: a cell may have filled a GPU since
	title := fmt.Sprintf("backend %s (%d device(s)): %s", choice.Name, choice.Backend.NumDevices(), choice.Reason)
	if kernel.InNotebook() {
		kernel.DisplayHTML(kernel.DevicesHTML(title, devs))
		return
	}
	fmt.Print(platform.FormatTable(title, devs))
}
