package data

import (
	"testing"

	"github.com/gomlx/compute/gobackend"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/metric"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gonbgpu/gonbgpu/vision/augment"
)

// TestLoaderTrainsGoMLXModel checks the loader against GoMLX itself, on the pure-Go backend: its batches
// must be accepted by train.Loop.RunSteps (endless, through iter.Pull2) and Trainer.Eval (one epoch, with
// a smaller last batch), with the sparse loss and accuracy metric, and a linear model must learn to tell
// dark from bright images.
func TestLoaderTrainsGoMLXModel(t *testing.T) {
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Finalize()
	s := newSet(64, 6, 6, 1, 2)
	for i := range s.N {
		img := s.Image(i)
		for j := range img {
			img[j] = byte(40 + 150*s.Labels[i] + int32(j%20))
		}
	}
	mean, std := s.MeanStd()
	trainDS, err := NewLoader(s, LoaderOptions{BatchSize: 16, Shuffle: true, Repeat: true, Mean: mean, Std: std,
		Augment: augment.New().Flip(0.5)})
	if err != nil {
		t.Fatal(err)
	}
	evalDS, err := NewLoader(s, LoaderOptions{BatchSize: 24, Mean: mean, Std: std}) // Batches of 24, 24, 16.
	if err != nil {
		t.Fatal(err)
	}
	modelFn := func(scope *model.Scope, images *graph.Node) *graph.Node {
		flat := graph.Reshape(images, images.Shape().Dimensions[0], -1)
		return layers.DenseWithBias(scope.In("dense"), flat, 2)
	}
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(1); err != nil { // Same initial weights every run.
		t.Fatal(err)
	}
	trainer := train.NewTrainer(backend, store, modelFn, loss.SparseCategoricalCrossEntropyLogits,
		optimizer.Adam().LearningRate(0.05).Done(), nil,
		[]metric.Interface{metric.NewSparseCategoricalAccuracy("Accuracy", "#acc")})
	if _, err := train.NewLoop(trainer).RunSteps(trainDS, 30); err != nil {
		t.Fatal(err)
	}
	results, err := trainer.Eval(evalDS)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("eval: loss %v, accuracy %v", results[0].Value(), results[1].Value())
	if len(results) != 2 {
		t.Fatalf("Eval returned %d values, want loss and accuracy", len(results))
	}
	if acc, ok := results[1].Value().(float32); !ok || acc < 0.99 {
		t.Errorf("accuracy %v after training on a trivial task, want 1", results[1].Value())
	}
}
