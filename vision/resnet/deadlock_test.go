package resnet

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// TestNoWorkerDeadlock trains ResNet-20 on pure-Go backends exactly as GoMLX creates them — its default
// limit on concurrent work, and the tightest one (parallelism=2) — and fails if the steps don't finish.
//
// compute v0.1.2 deadlocked here on 2 cores when as many matrix products as it had worker slots were ready
// at once (each held a slot and waited for more), so gonbgpu used to lift the limit through reflection into
// the backend and put scheduling barriers between a convolution's gradient products. compute v0.1.14 runs
// its graph executors on non-blocking slots and never lets a matrix product wait on a slot that another
// waiting one holds: this test is the proof that both workarounds could go.
func TestNoWorkerDeadlock(t *testing.T) {
	for _, config := range []string{"go", "go:parallelism=2"} {
		t.Run(config, func(t *testing.T) {
			b, err := compute.NewWithConfig(config)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				rng := rand.New(rand.NewPCG(1, 2))
				store := model.NewStore()
				// Batch parts make the most matrix products ready at once (4 parts × each layer's products).
				builder := New("resnet20").NumClasses(2).BatchParts(4)
				trainer := train.NewTrainer(b, store, builder.ModelFn(), loss.SparseCategoricalCrossEntropyLogits,
					optimizer.StochasticGradientDescent().WithLearningRate(0.1).Done(), nil, nil)
				for range 3 {
					if _, err := trainer.TrainStep(batchOf(syntheticBatch(rng, 64, 28))); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("%+v", err)
				}
			case <-time.After(4 * time.Minute):
				t.Fatalf("3 ResNet-20 training steps on %q did not finish in 4 minutes: the backend's workers deadlocked", config)
			}
		})
	}
}
