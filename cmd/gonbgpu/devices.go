package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/gonbgpu/gonbgpu/gpu"
	"github.com/gonbgpu/gonbgpu/gpu/platform"
	"github.com/gonbgpu/gonbgpu/gpu/plugin"
)

func init() {
	register("devices", "show the backend chosen, why, and a table of devices (like nvidia-smi)", runDevices)
}

func runDevices(args []string) error {
	fs := newFlags("devices", "[--json | --config] [--plugins]", "gonbgpu devices --plugins")
	asJSON := fs.Bool("json", false, "print the backend choice, the CUDA plugins found and the devices as JSON")
	config := fs.Bool("config", false, "print only the GoMLX configuration of the backend chosen (what GOMLX_BACKEND would take)")
	plugins := fs.Bool("plugins", false, "also list every place searched for a CUDA plugin")
	require := fs.Bool("require-gpu", gpu.ParseRequireGPU(os.Getenv(gpu.RequireGPUEnv)), "fail unless the backend computes on a GPU (also "+gpu.RequireGPUEnv+"=1)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *asJSON && *config {
		return fmt.Errorf("--json and --config each choose the output: give one")
	}
	opts, err := gpu.OptionsFromEnvironment()
	if err != nil {
		return err
	}
	opts.RequireGPU = opts.RequireGPU || *require
	search := plugin.Find()
	if search.Found == nil {
		search.Found = []*plugin.Plugin{} // none: [] in --json, not null
	}
	choice, err := gpu.DefaultWith(opts, os.Stderr)
	if err != nil {
		return withRequireGPUFlag(err)
	}
	devices := gpu.MachineDevices(choice.Backend)
	switch {
	case *config:
		fmt.Println(choice.Config)
		return devicesVerdict(choice)
	case *asJSON:
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Backend string            `json:"backend"`
			Config  string            `json:"config"`
			Reason  string            `json:"reason"`
			Warning string            `json:"warning,omitempty"`
			Plugin  string            `json:"cuda_plugin,omitempty"`
			Found   []*plugin.Plugin  `json:"cuda_plugins_found"`
			CPU     string            `json:"xla_cpu_plugin,omitempty"`
			N       int               `json:"compute_devices"`
			Devices []platform.Device `json:"devices"`
		}{choice.Name, choice.Config, choice.Reason, choice.Warning, choice.Plugin, search.Found, choice.CPUPlugin,
			choice.Backend.NumDevices(), devices}); err != nil {
			return err
		}
		return devicesVerdict(choice)
	}
	title := fmt.Sprintf("gonbgpu devices    backend: %s (%d device(s))", choice.Name, choice.Backend.NumDevices())
	fmt.Print(platform.FormatTable(title, devices))
	switch {
	case choice.Plugin != "":
		fmt.Printf("CUDA plugin: %s\n", choice.Plugin) // the one chosen (by driver CUDA, version, PJRT check)
	case search.Best() != nil:
		fmt.Printf("CUDA plugin: none usable: %s\n", choice.Reason)
	default:
		fmt.Println(search.NotFoundMessage())
	}
	if choice.CPUPlugin != "" {
		fmt.Printf("XLA CPU plugin: %s\n", choice.CPUPlugin)
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
func devicesVerdict(c *platform.Choice) error {
	if c.Warning == "" {
		return nil
	}
	return &exitError{3, "gonbgpu devices: a GPU is visible but the CUDA backend cannot be used: " + c.Warning}
}
