// Package parallel plans data-parallel training: which devices of a backend take part, and how a global
// batch is split among them, with the device mesh and shardings GoMLX's distributed API needs. One device
// (always the case on the pure-Go backend) is the plain single-device path, with the same API.
package parallel

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/distributed"

	"github.com/gonbgpu/gonbgpu/gpu/platform"
)

// DataAxis is the name of the device mesh's one axis, along which batches are split.
const DataAxis = "data"

// Plan says which devices take part in data-parallel training, and how a global batch is split among them.
//
// With several devices, each step's global batch is cut into equal per-device shards along the batch
// axis. XLA's SPMD partitioner (Shardy, through GoMLX's AutoSharding strategy) compiles one program per
// device from the single-device graph: the weights are replicated, the gradients are summed across
// devices with its collectives, and batch-norm statistics are computed over the whole global batch — the
// same maths as one big device, which is why the learning rate needs no per-device correction.
type Plan struct {
	Devices     []compute.DeviceNum
	GlobalBatch int
	PerDevice   int
	// Why says how the device count was decided, for the user.
	Why string
}

// N returns the number of devices.
func (p *Plan) N() int { return len(p.Devices) }

// Distributed reports whether more than one device takes part.
func (p *Plan) Distributed() bool { return len(p.Devices) > 1 }

// Mesh returns the 1-D device mesh ("data") over the plan's devices.
func (p *Plan) Mesh() (*distributed.DeviceMesh, error) {
	mesh, err := distributed.NewDeviceMesh([]int{len(p.Devices)}, []string{DataAxis})
	if err != nil {
		return nil, err
	}
	logical := make([]int, len(p.Devices))
	for i, d := range p.Devices {
		logical[i] = int(d)
	}
	if err := mesh.SetLogicalDeviceAssignment(logical...); err != nil {
		return nil, err
	}
	return mesh, nil
}

// BatchSharding returns the sharding of a batch tensor: its first (batch) axis split over the mesh, the
// rest replicated; and the replicated sharding for everything else.
func (p *Plan) BatchSharding() (batch, replicated *distributed.ShardingSpec, err error) {
	mesh, err := p.Mesh()
	if err != nil {
		return nil, nil, err
	}
	batch, err = distributed.NewShardingSpec(mesh, distributed.AxisSpec{DataAxis})
	if err != nil {
		return nil, nil, err
	}
	return batch, distributed.NewReplicatedShardingSpec(mesh), nil
}

// New decides the devices for data-parallel training on the backend of c. requested is the number of devices
// asked for (recipe.Options.Devices, `gonbgpu train --devices N`), 0 meaning all the backend has; globalBatch is the batch size of one step over all
// devices. CUDA already hides the GPUs that CUDA_VISIBLE_DEVICES (which SLURM sets) excludes, so the
// backend's device count is what this job may use; SLURM's own count only makes the messages say how to
// ask for more.
//
// On XLA's CPU backend, 0 means one device: its CPU devices share the host's cores, so spreading a step
// over them adds communication and no compute. Several are used when asked for, to try data parallelism
// (and to test it) on a machine without GPUs.
func New(c *platform.Choice, requested, globalBatch int) (*Plan, error) {
	if c == nil || c.Backend == nil {
		return nil, fmt.Errorf("parallel.New: no backend (pass gpu.Default()'s choice, or platform.Of(backend))")
	}
	b := c.Backend
	pureGo := platform.IsPureGo(b)
	available := b.NumDevices()
	if pureGo {
		available = 1
	}
	return plan(available, pureGo, platform.IsXLACPU(b), requested, globalBatch, c.Job)
}

// plan is [New] with the backend's facts given; job is the batch job the choice carries (its GPUs and
// CUDA's mask only make the messages say how to ask for more).
func plan(available int, pureGo, xlaCPU bool, requested, globalBatch int, job platform.Job) (*Plan, error) {
	if requested < 0 {
		return nil, fmt.Errorf("the number of devices must be ≥ 0 (0 means all the backend has), got %d", requested)
	}
	if globalBatch < 1 {
		return nil, fmt.Errorf("batch size must be ≥ 1, got %d", globalBatch)
	}
	if available < 1 {
		return nil, fmt.Errorf("the backend reports no devices")
	}
	n := available
	why := fmt.Sprintf("all %d device(s) of the backend", available)
	switch {
	case pureGo:
		why = "the pure-Go backend runs on one device (the host CPU, all its cores)"
	case xlaCPU && requested == 0:
		n = 1
		why = fmt.Sprintf("one of XLA's %d CPU devices, which share the host's %d cores (ask for more devices to train data-parallel)",
			available, platform.HostCores())
	}
	if requested > 0 {
		if requested > available {
			msg := fmt.Sprintf("%d devices asked for, but the backend has %d", requested, available)
			if pureGo {
				msg += ": the pure-Go backend has one device; several need XLA: GOMLX_BACKEND=xla:cpu (CPU devices) or a GPU node (see `gonbgpu devices`)"
			} else if job.GPUs > 0 {
				msg += fmt.Sprintf("; SLURM gave this job %d GPU(s) (%s): ask for more with --gres=gpu:%d", job.GPUs, job.GPUsFrom, requested)
			} else if job.VisibleDevices != "" {
				msg += fmt.Sprintf("; CUDA_VISIBLE_DEVICES=%s limits what this process sees", job.VisibleDevices)
			}
			return nil, fmt.Errorf("%s", msg)
		}
		n = requested
		why = fmt.Sprintf("%d of %d device(s), as asked", n, available)
	}
	if job.GPUs > 0 && !pureGo {
		why += fmt.Sprintf("; SLURM job GPUs: %d (%s)", job.GPUs, job.GPUsFrom)
	}
	if globalBatch%n != 0 {
		lo := globalBatch / n * n
		hi := lo + n
		if lo == 0 {
			return nil, fmt.Errorf("batch size %d is smaller than the %d devices: use at least %d", globalBatch, n, n)
		}
		return nil, fmt.Errorf("batch size %d does not split evenly over %d devices (each device takes an equal share of every step): use %d or %d", globalBatch, n, lo, hi)
	}
	p := &Plan{GlobalBatch: globalBatch, PerDevice: globalBatch / n, Why: why}
	for i := range n {
		p.Devices = append(p.Devices, compute.DeviceNum(i))
	}
	return p, nil
}
