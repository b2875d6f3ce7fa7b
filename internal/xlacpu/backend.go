package xlacpu

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/gomlx/go-xla/compute/xla"
	"github.com/gomlx/go-xla/pjrt"

	"github.com/gonbgpu/gonbgpu/internal/pjrtapi"
)

// Name is the name the plugin is registered with in go-xla, and the backend configuration that asks for
// it: GOMLX_BACKEND=xla:cpu. go-xla turns on its CPU behaviour (device buffers shared with the host, no
// TF32) for a plugin of this name.
const Name = "cpu"

// DeviceCountOption is the CPU plugin's client option for its number of devices (an int64; XLA's
// default is 4).
const DeviceCountOption = "cpu_device_count"

// MaxDevices bounds the device count asked of the plugin: each CPU device is a thread pool's worth of
// bookkeeping, and a count in the hundreds is a typo, not a plan.
const MaxDevices = 64

// Options say how to create a backend on the CPU plugin.
type Options struct {
	// Plugin is the plugin's shared library (see [Find]).
	Plugin string

	// Devices is the number of CPU devices the backend exposes; 0 means the plugin's default (4).
	Devices int
}

var (
	loadMu sync.Mutex
	loaded string // the plugin registered as "cpu" in this process
)

// register loads the plugin at path into this process, once, and registers it with go-xla as [Name].
// A process can hold one CPU plugin: asking for a second is an error that names both.
func register(path string) error {
	loadMu.Lock()
	defer loadMu.Unlock()
	if loaded == path {
		return nil
	}
	if loaded != "" {
		return fmt.Errorf("the XLA CPU plugin %s is already loaded in this process; %s cannot be loaded beside it", loaded, path)
	}
	api, table, err := pjrtapi.Load(path)
	if err != nil {
		return fmt.Errorf("cannot load the XLA CPU plugin %s: %v", path, err)
	}
	if err := api.Compatible(); err != nil {
		return fmt.Errorf("XLA CPU plugin %s: %w", path, err)
	}
	if err := pjrt.RegisterPreloadedPlugin(Name, table); err != nil {
		return fmt.Errorf("XLA CPU plugin %s: go-xla cannot initialise it: %w", path, err)
	}
	loaded = path
	return nil
}

// New creates a GoMLX backend on the CPU plugin with o.Devices CPU devices. The plugin is loaded into
// this process on the first call, and stays: check an unknown plugin first, in a child process
// ([Check]), since a plugin that crashes while loading takes its process down.
func New(o Options) (*xla.Backend, error) {
	if o.Plugin == "" {
		return nil, fmt.Errorf("no XLA CPU plugin given")
	}
	if o.Devices < 0 || o.Devices > MaxDevices {
		return nil, fmt.Errorf("XLA CPU device count %d is out of range: use 1 to %d (0: the plugin's default, 4)", o.Devices, MaxDevices)
	}
	if err := register(o.Plugin); err != nil {
		return nil, err
	}
	xla.EnableAutoInstall(false)
	opts := pjrt.NamedValuesMap{}
	if o.Devices > 0 {
		opts[DeviceCountOption] = int64(o.Devices)
	}
	b, err := xla.NewWithOptions(Name, opts)
	if err != nil {
		return nil, fmt.Errorf("XLA CPU plugin %s: %w", o.Plugin, err)
	}
	return b, nil
}

// Config is the backend configuration gonbgpu writes for a CPU backend with n devices: "xla:cpu", or
// "xla:cpu,devices=N". [ParseConfig] reads it back; GoMLX itself does not (go-xla knows no "devices"
// option), so it is only handed to gonbgpu (GOMLX_BACKEND, GONBGPU_TEST_BACKEND).
func Config(devices int) string {
	if devices > 0 {
		return fmt.Sprintf("xla:%s,devices=%d", Name, devices)
	}
	return "xla:" + Name
}

// ParseConfig reads a configuration of the CPU plugin: "xla:cpu", with the options "devices=N" and
// "plugin=PATH". ok is false for a configuration of another backend ("go", "xla:cuda", "xla:/path").
func ParseConfig(config string) (o Options, ok bool, err error) {
	name, opts, _ := strings.Cut(strings.TrimSpace(config), ",")
	if name != "xla:"+Name {
		return o, false, nil
	}
	if opts == "" {
		return o, true, nil
	}
	for _, kv := range strings.Split(opts, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "devices":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > MaxDevices {
				return o, true, fmt.Errorf("backend %q: devices=%q must be a number from 1 to %d", config, v, MaxDevices)
			}
			o.Devices = n
		case "plugin":
			o.Plugin = v
		case "":
		default:
			return o, true, fmt.Errorf("backend %q: unknown option %q (the XLA CPU backend takes devices=N and plugin=PATH)", config, k)
		}
	}
	return o, true, nil
}
