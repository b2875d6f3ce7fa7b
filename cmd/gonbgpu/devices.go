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
	if err := fs.Parse(args); err != nil {
		return err
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
		}{choice.Name, choice.Reason, search.Best(), devs})
	}
	title := fmt.Sprintf("gonbgpu devices    backend: %s (%d device(s))", choice.Name, b.NumDevices())
	fmt.Print(gpu.FormatDevices(title, devs))
	if p := search.Best(); p != nil {
		fmt.Printf("CUDA plugin: %s\n", p)
	} else {
		fmt.Println(search.NotFoundMessage())
	}
	if *plugins && search.Best() != nil {
		fmt.Println("Searched:")
		for _, s := range search.Searched {
			fmt.Println("  -", s)
		}
	}
	return nil
}
