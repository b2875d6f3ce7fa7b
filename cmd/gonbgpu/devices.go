package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/gonbgpu/gonbgpu/gpu"
)

func init() {
	register("devices", "show the backend chosen, why, and a table of devices (like nvidia-smi)", runDevices)
}

func runDevices(args []string) error {
	fs := newFlags("devices", "[--json] [--plugins]", "gonbgpu devices --plugins")
	asJSON := fs.Bool("json", false, "print the devices as JSON")
	plugins := fs.Bool("plugins", false, "also list every place searched for a CUDA plugin")
	require := fs.Bool("require-gpu", gpu.RequireGPU(), "fail unless the backend computes on a GPU (also "+gpu.RequireGPUEnv+"=1)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *require {
		gpu.SetRequireGPU(true)
	}
	search := gpu.FindCUDAPlugin()
	gpu.Log = os.Stderr
	b, err := gpu.NewBackend()
	if err != nil {
		return err
	}
	choice, _ := gpu.Chosen()
	devs := gpu.Devices(b)
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Backend string       `json:"backend"`
			Reason  string       `json:"reason"`
			Plugin  *gpu.Plugin  `json:"cuda_plugin"`
			Devices []gpu.Device `json:"devices"`
		}{choice.Name, choice.Reason, choice.Plugin, devs})
	}
	title := fmt.Sprintf("gonbgpu devices    backend: %s (%d device(s))", choice.Name, b.NumDevices())
	fmt.Print(gpu.FormatDevices(title, devs))
	switch {
	case choice.Plugin != nil:
		fmt.Printf("CUDA plugin: %s\n", choice.Plugin) // the one chosen (by driver CUDA, version, PJRT check)
	case search.Best() != nil:
		fmt.Printf("CUDA plugin: none usable: %s\n", choice.Reason)
	default:
		fmt.Println(search.NotFoundMessage())
	}
	if *plugins && search.Best() != nil {
		fmt.Println("Searched:")
		for _, s := range search.Searched {
			fmt.Println("  -", s)
		}
	}
	return devicesVerdict(choice)
}

// devicesVerdict is the exit status of `gonbgpu devices`: an error (exit 3) when a GPU is visible but the
// backend fell back to the CPU, so that scripts and checks don't pass on a broken CUDA setup.
func devicesVerdict(c gpu.Choice) error {
	if c.Warning == "" {
		return nil
	}
	return &exitError{3, "gonbgpu devices: a GPU is visible but the CUDA backend cannot be used: " + c.Warning}
}
