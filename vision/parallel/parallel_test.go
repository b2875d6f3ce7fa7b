package parallel

import (
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/internal/slurm"
)

func TestPlanParallel(t *testing.T) {
	none := slurm.GPUs{}
	cases := []struct {
		available int
		pureGo    bool
		requested int
		batch     int
		wantN     int
		wantPer   int
		wantErr   string
	}{
		{1, true, 0, 128, 1, 128, ""},
		{1, true, 4, 128, 0, 0, "pure-Go backend has one device"},
		{4, false, 0, 256, 4, 64, ""},
		{4, false, 2, 256, 2, 128, ""},
		{4, false, 8, 256, 0, 0, "more devices than the backend has (4)"},
		{4, false, 0, 250, 0, 0, "use 248 or 252"},
		{4, false, 0, 3, 0, 0, "smaller than the 4 devices"},
		{2, false, -1, 64, 0, 0, "≥ 0"},
		{2, false, 0, 0, 0, 0, "batch size must be ≥ 1"},
	}
	for _, c := range cases {
		p, err := plan(c.available, c.pureGo, c.requested, c.batch, none)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%+v: want error containing %q, got %v", c, c.wantErr, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: %v", c, err)
			continue
		}
		if p.N() != c.wantN || p.PerDevice != c.wantPer || p.PerDevice*p.N() != c.batch {
			t.Errorf("%+v: got %d devices × %d", c, p.N(), p.PerDevice)
		}
		for i, d := range p.Devices {
			if int(d) != i {
				t.Errorf("devices %v", p.Devices)
			}
		}
		if p.Distributed() != (c.wantN > 1) {
			t.Errorf("Distributed() wrong for %d devices", c.wantN)
		}
	}
}

func TestPlanParallelNamesSlurm(t *testing.T) {
	_, err := plan(2, false, 4, 256, slurm.GPUs{Count: 2, From: "SLURM_GPUS_ON_NODE=2"})
	if err == nil || !strings.Contains(err.Error(), "SLURM gave this job 2 GPU(s)") || !strings.Contains(err.Error(), "--gres=gpu:4") {
		t.Fatalf("want a SLURM hint, got %v", err)
	}
	p, err := plan(2, false, 0, 256, slurm.GPUs{Count: 2, From: "SLURM_GPUS_ON_NODE=2"})
	if err != nil || !strings.Contains(p.Why, "SLURM job GPUs: 2") {
		t.Fatalf("%v %v", p, err)
	}
}

func TestMeshAndSharding(t *testing.T) {
	p, err := plan(4, false, 0, 64, slurm.GPUs{})
	if err != nil {
		t.Fatal(err)
	}
	mesh, err := p.Mesh()
	if err != nil {
		t.Fatal(err)
	}
	if mesh.NumDevices() != 4 || mesh.AxesNames()[0] != DataAxis {
		t.Fatalf("mesh %s", mesh)
	}
	batch, repl, err := p.BatchSharding()
	if err != nil {
		t.Fatal(err)
	}
	if batch.NumDevicesShardingAxis(0) != 4 || !repl.IsReplicated() || batch.IsReplicated() {
		t.Fatalf("sharding: batch %s, replicated %s", batch, repl)
	}
}
