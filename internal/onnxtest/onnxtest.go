// Package onnxtest writes torchvision-layout ResNets (and a model that is not one) as ONNX files, with
// random weights, for the tests of package vision/pretrained and of its users: the same operators,
// attributes, data flow and initializer names as torch.onnx.export gives for torchvision's ResNets, at any
// width, so test models stay small.
package onnxtest

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute-onnx/support/protos"
	"github.com/gomlx/compute/dtypes/float16"
	"google.golang.org/protobuf/proto"
)

// Options describe a torchvision-layout ResNet written as ONNX by the tests.
type Options struct {
	Model   string // resnet18, resnet34 or resnet50
	Divisor int    // channels are torchvision's / divisor (16: 4…32 channels, a ~100 KB file)
	Folded  bool   // batch norms folded into the convolutions (torch.onnx.export in eval mode)
	Classes int
	Size    int // input side
	Seed    uint64
	FP16    bool // store the weights as float16 (rounded from the float32 values the same seed gives)
	// Untrained leaves the batch norms at PyTorch's initial values (scale 1, offset 0, mean 0, variance 1):
	// folded, every bias is zero. Then, as torch.onnx.export does, equal initializers are stored once and
	// their other readers fed through Identity nodes (torchvision.models.resnet18(weights=None) exported).
	Untrained bool
	// MatMulHead ends the model as other exporters do: ReduceMean over axes 2, 3 given as an input
	// (opset 18) and MatMul + Add for the classifier, instead of GlobalAveragePool, Flatten and Gemm.
	MatMulHead bool
}

// onnxGen writes a graph node by node, as torch.onnx.export lays out torchvision's ResNet: the same
// operators, attributes and data flow, and initializers named like torch's parameters.
type onnxGen struct {
	g     *protos.GraphProto
	rng   *rand.Rand
	n     int
	o     Options
	names map[string]bool
}

// ResNet returns the bytes of an ONNX file holding the ResNet of o, with random weights.
func ResNet(o Options) []byte {
	return ResNetBlocks(o, map[string][]int{"resnet18": {2, 2, 2, 2}, "resnet34": {3, 4, 6, 3}, "resnet50": {3, 4, 6, 3}}[o.Model])
}

// ResNetBlocks is ResNet with the given blocks per stage (bottlenecks for o.Model "resnet50").
func ResNetBlocks(o Options, blocks []int) []byte {
	gen := &onnxGen{g: &protos.GraphProto{Name: "main_graph"}, rng: rand.New(rand.NewPCG(o.Seed, 7)), o: o, names: map[string]bool{}}
	g := gen.g
	g.Input = []*protos.ValueInfoProto{valueInfo("input", []any{"batch", int64(3), int64(o.Size), int64(o.Size)})}
	x := "input"
	ch := func(c int) int { return c / o.Divisor }
	x = gen.convBN("conv1", "bn1", x, 3, ch(64), 7, 2)
	x = gen.node("Relu", []string{x}, nil)
	x = gen.node("MaxPool", []string{x}, []*protos.AttributeProto{ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1),
		ints("strides", 2, 2), intAttr("ceil_mode", 0)})
	bottleneck := o.Model == "resnet50"
	in := ch(64)
	for s, n := range blocks {
		width := ch(64 << s)
		for b := range n {
			stride := 1
			if b == 0 && s > 0 {
				stride = 2
			}
			p := fmt.Sprintf("layer%d.%d.", s+1, b)
			var y string
			out := width
			if bottleneck {
				out = 4 * width
				y = gen.node("Relu", []string{gen.convBN(p+"conv1", p+"bn1", x, in, width, 1, 1)}, nil)
				y = gen.node("Relu", []string{gen.convBN(p+"conv2", p+"bn2", y, width, width, 3, stride)}, nil)
				y = gen.convBN(p+"conv3", p+"bn3", y, width, out, 1, 1)
			} else {
				y = gen.node("Relu", []string{gen.convBN(p+"conv1", p+"bn1", x, in, width, 3, stride)}, nil)
				y = gen.convBN(p+"conv2", p+"bn2", y, width, width, 3, 1)
			}
			skip := x
			if stride != 1 || in != out {
				skip = gen.convBN(p+"downsample.0", p+"downsample.1", x, in, out, 1, stride)
			}
			x = gen.node("Relu", []string{gen.node("Add", []string{y, skip}, nil)}, nil)
			in = out
		}
	}
	opset := int64(13)
	if o.MatMulHead {
		opset = 18
		raw := make([]byte, 16)
		binary.LittleEndian.PutUint64(raw, 2)
		binary.LittleEndian.PutUint64(raw[8:], 3)
		g.Initializer = append(g.Initializer, &protos.TensorProto{Name: "axes", Dims: []int64{2}, DataType: int32(protos.TensorProto_INT64), RawData: raw})
		x = gen.node("ReduceMean", []string{x, "axes"}, []*protos.AttributeProto{intAttr("keepdims", 0)})
		gen.weight("fc.weight_t", []int{in, o.Classes}, 1/math.Sqrt(float64(in)), 0)
		gen.weight("fc.bias", []int{o.Classes}, 0.1, 0)
		x = gen.node("Add", []string{gen.node("MatMul", []string{x, "fc.weight_t"}, nil), "fc.bias"}, nil)
	} else {
		x = gen.node("GlobalAveragePool", []string{x}, nil)
		x = gen.node("Flatten", []string{x}, []*protos.AttributeProto{intAttr("axis", 1)})
		gen.weight("fc.weight", []int{o.Classes, in}, 1/math.Sqrt(float64(in)), 0)
		gen.weight("fc.bias", []int{o.Classes}, 0.1, 0)
		x = gen.node("Gemm", []string{x, "fc.weight", "fc.bias"}, []*protos.AttributeProto{floatAttr("alpha", 1), floatAttr("beta", 1), intAttr("transB", 1)})
	}
	g.Output = []*protos.ValueInfoProto{valueInfo(x, []any{"batch", int64(o.Classes)})}
	return gen.marshal(opset)
}

// MLP returns an ONNX model that is not a ResNet: Flatten → Gemm → Relu → Gemm on 8×8 RGB images.
func MLP() []byte {
	gen := &onnxGen{g: &protos.GraphProto{Name: "mlp"}, rng: rand.New(rand.NewPCG(1, 2)), names: map[string]bool{}}
	gen.g.Input = []*protos.ValueInfoProto{valueInfo("input", []any{"batch", int64(3), int64(8), int64(8)})}
	x := gen.node("Flatten", []string{"input"}, []*protos.AttributeProto{intAttr("axis", 1)})
	gen.weight("fc1.weight", []int{16, 192}, 0.1, 0)
	x = gen.node("Relu", []string{gen.node("Gemm", []string{x, "fc1.weight"}, []*protos.AttributeProto{intAttr("transB", 1)})}, nil)
	gen.weight("fc2.weight", []int{4, 16}, 0.1, 0)
	x = gen.node("Gemm", []string{x, "fc2.weight"}, []*protos.AttributeProto{intAttr("transB", 1)})
	gen.g.Output = []*protos.ValueInfoProto{valueInfo(x, []any{"batch", int64(4)})}
	return gen.marshal(13)
}

func (gen *onnxGen) marshal(opset int64) []byte {
	g := gen.g
	dedup(g)
	m := &protos.ModelProto{IrVersion: 8, ProducerName: "gonbgpu-test", Graph: g,
		OpsetImport: []*protos.OperatorSetIdProto{{Domain: "", Version: opset}}}
	data, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return data
}

// convBN adds a bias-free convolution and its batch norm (or, folded, a convolution with a bias) and
// returns the output's name.
func (gen *onnxGen) convBN(convName, bnName, x string, in, out, k, stride int) string {
	attrs := []*protos.AttributeProto{ints("dilations", 1, 1), intAttr("group", 1), ints("kernel_shape", int64(k), int64(k)),
		ints("pads", int64(k/2), int64(k/2), int64(k/2), int64(k/2)), ints("strides", int64(stride), int64(stride))}
	w := convName + ".weight"
	if gen.o.Folded {
		w = fmt.Sprintf("onnx::Conv_%d", 500+len(gen.g.Initializer)) // what the exporter calls folded weights
	}
	gen.weight(w, []int{out, in, k, k}, math.Sqrt(2/float64(in*k*k)), 0)
	if gen.o.Folded {
		b := fmt.Sprintf("onnx::Conv_%d", 500+len(gen.g.Initializer))
		if gen.o.Untrained {
			gen.initializer(b, []int{out}, make([]float32, out))
		} else {
			gen.weight(b, []int{out}, 0.2, 0)
		}
		return gen.node("Conv", []string{x, w, b}, attrs)
	}
	y := gen.node("Conv", []string{x, w}, attrs)
	if gen.o.Untrained {
		ones := make([]float32, out)
		for i := range ones {
			ones[i] = 1
		}
		gen.initializer(bnName+".weight", []int{out}, ones)
		gen.initializer(bnName+".bias", []int{out}, make([]float32, out))
		gen.initializer(bnName+".running_mean", []int{out}, make([]float32, out))
		gen.initializer(bnName+".running_var", []int{out}, ones)
	} else {
		gen.weight(bnName+".weight", []int{out}, 0.1, 0.5) // γ below 1 keeps activations (and logits) of order 1
		gen.weight(bnName+".bias", []int{out}, 0.2, 0)
		gen.weight(bnName+".running_mean", []int{out}, 0.2, 0)
		gen.weightUniform(bnName+".running_var", []int{out}, 0.5, 1.5)
	}
	return gen.node("BatchNormalization", []string{y, bnName + ".weight", bnName + ".bias", bnName + ".running_mean", bnName + ".running_var"},
		[]*protos.AttributeProto{floatAttr("epsilon", 1e-5), floatAttr("momentum", 0.9)})
}

// node appends a node and returns its (single) output.
func (gen *onnxGen) node(op string, inputs []string, attrs []*protos.AttributeProto) string {
	gen.n++
	name := fmt.Sprintf("/%s_%d", op, gen.n)
	out := fmt.Sprintf("/%s_%d_output_0", op, gen.n)
	gen.g.Node = append(gen.g.Node, &protos.NodeProto{Name: name, OpType: op, Input: inputs, Output: []string{out}, Attribute: attrs})
	return out
}

// weight adds a float32 initializer of normal values with the given std and mean.
func (gen *onnxGen) weight(name string, dims []int, std, mean float64) {
	vals := make([]float32, prod(dims))
	for i := range vals {
		vals[i] = float32(mean + std*gen.rng.NormFloat64())
	}
	gen.initializer(name, dims, vals)
}

func (gen *onnxGen) weightUniform(name string, dims []int, lo, hi float64) {
	vals := make([]float32, prod(dims))
	for i := range vals {
		vals[i] = float32(lo + (hi-lo)*gen.rng.Float64())
	}
	gen.initializer(name, dims, vals)
}

func (gen *onnxGen) initializer(name string, dims []int, vals []float32) {
	if gen.names[name] {
		panic("duplicate initializer " + name)
	}
	gen.names[name] = true
	raw := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	d := make([]int64, len(dims))
	for i, v := range dims {
		d[i] = int64(v)
	}
	dtype := protos.TensorProto_FLOAT
	if gen.o.FP16 {
		dtype, raw = protos.TensorProto_FLOAT16, make([]byte, 2*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint16(raw[2*i:], float16.FromFloat32(v).Bits())
		}
	}
	gen.g.Initializer = append(gen.g.Initializer, &protos.TensorProto{Name: name, Dims: d, DataType: int32(dtype), RawData: raw})
}

// dedup stores equal initializers once, as torch.onnx.export does: the others become Identity nodes of
// the first, at the start of the graph.
func dedup(g *protos.GraphProto) {
	first := map[string]string{}
	var kept []*protos.TensorProto
	var idents []*protos.NodeProto
	for _, t := range g.Initializer {
		key := fmt.Sprint(t.DataType, t.Dims, string(t.RawData))
		if src, ok := first[key]; ok {
			idents = append(idents, &protos.NodeProto{Name: fmt.Sprintf("Identity_%d", len(idents)), OpType: "Identity",
				Input: []string{src}, Output: []string{t.Name}})
			continue
		}
		first[key] = t.Name
		kept = append(kept, t)
	}
	g.Initializer = kept
	g.Node = append(idents, g.Node...)
}

func prod(dims []int) int {
	p := 1
	for _, d := range dims {
		p *= d
	}
	return p
}

func valueInfo(name string, dims []any) *protos.ValueInfoProto {
	shape := &protos.TensorShapeProto{}
	for _, d := range dims {
		switch v := d.(type) {
		case string:
			shape.Dim = append(shape.Dim, &protos.TensorShapeProto_Dimension{Value: &protos.TensorShapeProto_Dimension_DimParam{DimParam: v}})
		case int64:
			shape.Dim = append(shape.Dim, &protos.TensorShapeProto_Dimension{Value: &protos.TensorShapeProto_Dimension_DimValue{DimValue: v}})
		}
	}
	return &protos.ValueInfoProto{Name: name, Type: &protos.TypeProto{Value: &protos.TypeProto_TensorType{
		TensorType: &protos.TypeProto_Tensor{ElemType: int32(protos.TensorProto_FLOAT), Shape: shape}}}}
}

func ints(name string, v ...int64) *protos.AttributeProto {
	return &protos.AttributeProto{Name: name, Type: protos.AttributeProto_INTS, Ints: v}
}

func intAttr(name string, v int64) *protos.AttributeProto {
	return &protos.AttributeProto{Name: name, Type: protos.AttributeProto_INT, I: v}
}

func floatAttr(name string, v float32) *protos.AttributeProto {
	return &protos.AttributeProto{Name: name, Type: protos.AttributeProto_FLOAT, F: v}
}
