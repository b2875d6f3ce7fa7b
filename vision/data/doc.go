// Package data loads labelled image data sets into memory and serves them to GoMLX training loops in
// batches.
//
// Everything is held as a [Set]: N images of H×W×C uint8 pixels (NHWC, like the tensors GoMLX's
// convolutions take) plus one int32 label per image and the class names. Keeping uint8 pixels until a
// batch is built costs a quarter of the memory of float32 — CIFAR-10 is 180 MiB instead of 720 MiB — and
// lets augmentation start from the exact source values every epoch.
//
// Readers:
//
//   - [FashionMNIST] (IDX files, see [ReadIDX]);
//   - [CIFAR10] (the binary version's batches);
//   - [Folder]: one sub-folder of JPEG/PNG files per class, the layout of most course and Kaggle data.
//
// [Locate] (and [LocateFashionMNIST], [Load]) find where Fashion-MNIST and CIFAR-10 are, through package
// datasets: --data, $GONBGPU_DATA or the cache, Debian's dataset-fashion-mnist, or for Fashion-MNIST a
// download verified against the SHA-256 digests pinned there.
//
// All readers treat files as untrusted: a corrupt, truncated or hostile file yields an error naming the
// file and saying what is wrong — never a panic, and never an allocation sized by a header the file
// cannot back with data.
//
// [Split], [Subset] and [Select] derive new sets; [NewLoader] turns a set into a GoMLX train.Dataset that
// shuffles, augments (with package vision/augment), normalises and batches in background goroutines.
package data
