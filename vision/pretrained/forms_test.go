package pretrained

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute-onnx/support/protos"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/dtypes/float16"
	"github.com/gonbgpu/gonbgpu/internal/onnxtest"
	"google.golang.org/protobuf/proto"
)

// The same network written in the other forms exporters use (see graph.go), made here by rewriting
// onnxtest's files: each must import to exactly the variables of the plain file. TestExportVariants does
// the same with PyTorch's own files; these run without PyTorch.

// mutate returns contents with f applied to the model.
func mutate(t *testing.T, contents []byte, f func(m *protos.ModelProto)) []byte {
	t.Helper()
	var m protos.ModelProto
	if err := proto.Unmarshal(contents, &m); err != nil {
		t.Fatal(err)
	}
	f(&m)
	out, err := proto.Marshal(&m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func nodesOf(g *protos.GraphProto, op string) []*protos.NodeProto {
	var out []*protos.NodeProto
	for _, n := range g.Node {
		if n.OpType == op {
			out = append(out, n)
		}
	}
	return out
}

func initializerOf(g *protos.GraphProto, name string) *protos.TensorProto {
	for _, t := range g.Initializer {
		if t.Name == name {
			return t
		}
	}
	panic("no initializer " + name)
}

// insertBefore puts nodes just before n (keeping the graph in topological order).
func insertBefore(g *protos.GraphProto, n *protos.NodeProto, nodes ...*protos.NodeProto) {
	i := slices.Index(g.Node, n)
	g.Node = slices.Insert(g.Node, i, nodes...)
}

// insertAfter puts nodes just after n.
func insertAfter(g *protos.GraphProto, n *protos.NodeProto, nodes ...*protos.NodeProto) {
	i := slices.Index(g.Node, n)
	g.Node = slices.Insert(g.Node, i+1, nodes...)
}

// readersOf renames every read of value to renamed.
func readersOf(g *protos.GraphProto, value, renamed string) {
	for _, n := range g.Node {
		for i, in := range n.Input {
			if in == value {
				n.Input[i] = renamed
			}
		}
	}
}

func setAttr(n *protos.NodeProto, a *protos.AttributeProto) {
	n.Attribute = slices.DeleteFunc(n.Attribute, func(b *protos.AttributeProto) bool { return b.Name == a.Name })
	if a.Type != protos.AttributeProto_UNDEFINED {
		n.Attribute = append(n.Attribute, a)
	}
}

func intsTensor(name string, v ...int64) *protos.TensorProto {
	raw := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(x))
	}
	return &protos.TensorProto{Name: name, Dims: []int64{int64(len(v))}, DataType: int32(protos.TensorProto_INT64), RawData: raw}
}

func floatScalar(v float32) *protos.TensorProto {
	return &protos.TensorProto{DataType: int32(protos.TensorProto_FLOAT), FloatData: []float32{v}}
}

// convertFloats rewrites every float32 initializer with conv (float32 → raw data of another type).
func convertFloats(m *protos.ModelProto, dt protos.TensorProto_DataType, conv func(v float32) []byte) {
	for _, t := range m.Graph.Initializer {
		if t.DataType != int32(protos.TensorProto_FLOAT) {
			continue
		}
		var raw []byte
		for i := 0; i < len(t.RawData); i += 4 {
			raw = append(raw, conv(math.Float32frombits(binary.LittleEndian.Uint32(t.RawData[i:])))...)
		}
		t.DataType, t.RawData = int32(dt), raw
	}
}

// requireSameVars checks that w's variables are want's with each value passed through round.
func requireSameVars(t *testing.T, w, want *Weights, round func(float32) float32) {
	t.Helper()
	if w.Model != want.Model || w.FoldedBN != want.FoldedBN || w.Width != want.Width || w.NumClasses != want.NumClasses || w.Epsilon != want.Epsilon {
		t.Fatalf("read %s (epsilon %g), want %s (epsilon %g)", w, w.Epsilon, want, want.Epsilon)
	}
	if len(w.vars) != len(want.vars) {
		t.Fatalf("%d variables, want %d", len(w.vars), len(want.vars))
	}
	for path, v := range want.vars {
		got := w.vars[path]
		if got == nil || !slices.Equal(got.dims, v.dims) {
			t.Fatalf("variable %s: %v, want dimensions %v", path, got, v.dims)
		}
		for i, x := range v.data {
			if r := round(x); got.data[i] != r {
				t.Fatalf("variable %s[%d] = %g, want %g", path, i, got.data[i], r)
			}
		}
	}
}

func same(v float32) float32 { return v }

// TestExporterForms: shared tensors behind Identity chains, initializers listed as inputs (IR 3), Cast
// nodes, Pad nodes (opset 2 and 11 forms), auto_pad, a MatMul head with transposed weights and a computed
// Reshape, batch norms in training mode or opset 7's form, a convolution bias before a batch norm,
// Constant nodes, and float16 (raw and int32_data), bfloat16 and float64 weights all import to the
// variables of the plain file (rounded as the stored type rounds).
func TestExporterForms(t *testing.T) {
	base := onnxtest.Options{Model: "resnet18", Divisor: 16, Classes: 5, Size: 32, Seed: 9}
	untrained := base
	untrained.Folded, untrained.Untrained = true, true
	for _, tc := range []struct {
		name  string
		o     onnxtest.Options
		f     func(m *protos.ModelProto)
		round func(float32) float32
	}{
		{"identity-chains", untrained, func(m *protos.ModelProto) {
			g := m.Graph
			idents := nodesOf(g, "Identity")
			if len(idents) < 8 {
				t.Fatalf("the untrained file has %d Identity nodes", len(idents))
			}
			for k, n := range idents {
				if k%2 == 1 { // read the shared initializer directly
					g.Node = slices.DeleteFunc(g.Node, func(x *protos.NodeProto) bool { return x == n })
					readersOf(g, n.Output[0], n.Input[0])
					continue
				}
				out := n.Output[0]
				n.Output[0] = out + "_a"
				insertAfter(g, n,
					&protos.NodeProto{Name: n.Name + "_b", OpType: "Identity", Input: []string{out + "_a"}, Output: []string{out + "_b"}},
					&protos.NodeProto{Name: n.Name + "_c", OpType: "Identity", Input: []string{out + "_b"}, Output: []string{out}})
			}
			pool := nodesOf(g, "MaxPool")[0] // and on the data path
			readersOf(g, pool.Output[0], "pooled")
			insertAfter(g, pool, &protos.NodeProto{Name: "/id", OpType: "Identity", Input: pool.Output, Output: []string{"pooled"}})
		}, same},
		{"initializers-as-inputs-ir3", untrained, func(m *protos.ModelProto) {
			m.IrVersion = 3
			var ins []*protos.ValueInfoProto
			for _, t := range m.Graph.Initializer {
				shape := &protos.TensorShapeProto{}
				for _, d := range t.Dims {
					shape.Dim = append(shape.Dim, &protos.TensorShapeProto_Dimension{Value: &protos.TensorShapeProto_Dimension_DimValue{DimValue: d}})
				}
				ins = append(ins, &protos.ValueInfoProto{Name: t.Name, Type: &protos.TypeProto{Value: &protos.TypeProto_TensorType{
					TensorType: &protos.TypeProto_Tensor{ElemType: t.DataType, Shape: shape}}}})
			}
			m.Graph.Input = append(ins, m.Graph.Input...) // the images last
		}, same},
		{"casts", base, func(m *protos.ModelProto) {
			g := m.Graph
			readersOf(g, "input", "input_f16")
			g.Node = slices.Insert(g.Node, 0, &protos.NodeProto{Name: "/cast_in", OpType: "Cast", Input: []string{"input"}, Output: []string{"input_f16"},
				Attribute: []*protos.AttributeProto{{Name: "to", Type: protos.AttributeProto_INT, I: int64(protos.TensorProto_FLOAT16)}}})
			for _, c := range nodesOf(g, "Conv") {
				w := c.Input[1]
				initializerOf(g, w).Name = w + "_stored"
				insertBefore(g, c, &protos.NodeProto{Name: "/cast_" + w, OpType: "Cast", Input: []string{w + "_stored"}, Output: []string{w},
					Attribute: []*protos.AttributeProto{{Name: "to", Type: protos.AttributeProto_INT, I: int64(protos.TensorProto_FLOAT)}}})
			}
		}, same},
		{"pad-nodes-opset11", base, func(m *protos.ModelProto) {
			m.OpsetImport[0].Version = 11
			g := m.Graph
			for k, n := range append(nodesOf(g, "Conv"), nodesOf(g, "MaxPool")...) {
				p := attr(n, "pads").GetInts()[0]
				if p == 0 {
					continue
				}
				setAttr(n, &protos.AttributeProto{Name: "pads"})
				pads, value := fmt.Sprintf("/pad%d_pads", k), fmt.Sprintf("/pad%d_value", k)
				g.Initializer = append(g.Initializer, intsTensor(pads, 0, 0, p, p, 0, 0, p, p))
				ins := []string{n.Input[0], pads}
				if n.OpType == "MaxPool" {
					ins = append(ins, value)
					insertBefore(g, n, &protos.NodeProto{Name: "/neg_inf", OpType: "Constant", Output: []string{value},
						Attribute: []*protos.AttributeProto{{Name: "value", Type: protos.AttributeProto_TENSOR, T: floatScalar(float32(math.Inf(-1)))}}})
				}
				out := fmt.Sprintf("/pad%d", k)
				insertBefore(g, n, &protos.NodeProto{Name: out, OpType: "Pad", Input: ins, Output: []string{out}})
				n.Input[0] = out
			}
		}, same},
		{"pad-nodes-opset2-chained", base, func(m *protos.ModelProto) {
			m.OpsetImport[0].Version = 10
			g := m.Graph
			stem := nodesOf(g, "Conv")[0]
			setAttr(stem, &protos.AttributeProto{Name: "pads", Type: protos.AttributeProto_INTS, Ints: []int64{1, 1, 1, 1}})
			for _, p := range []int64{1, 1} { // 1 + 1 + 1 = the stem's 3
				out := fmt.Sprintf("/pad_%s", stem.Input[0])
				insertBefore(g, stem, &protos.NodeProto{Name: out, OpType: "Pad", Input: []string{stem.Input[0]}, Output: []string{out},
					Attribute: []*protos.AttributeProto{{Name: "mode", Type: protos.AttributeProto_STRING, S: []byte("constant")},
						{Name: "pads", Type: protos.AttributeProto_INTS, Ints: []int64{0, 0, p, p, 0, 0, p, p}},
						{Name: "value", Type: protos.AttributeProto_FLOAT, F: 0}}})
				stem.Input[0] = out
			}
		}, same},
		{"auto-pad", base, func(m *protos.ModelProto) {
			for _, n := range nodesOf(m.Graph, "Conv") {
				k, s := attr(n, "kernel_shape").GetInts()[0], attr(n, "strides").GetInts()[0]
				if s != 1 && k != 1 {
					continue
				}
				setAttr(n, &protos.AttributeProto{Name: "pads"})
				mode := map[int64]string{1: "VALID", 3: "SAME_UPPER"}[k]
				setAttr(n, &protos.AttributeProto{Name: "auto_pad", Type: protos.AttributeProto_STRING, S: []byte(mode)})
			}
		}, same},
		{"matmul-transposed-head", base, func(m *protos.ModelProto) {
			g := m.Graph
			gemm := nodesOf(g, "Gemm")[0]
			flat := nodesOf(g, "Flatten")[0]
			// Flatten → Reshape to a shape computed from the features' (Shape → Gather → Unsqueeze → Concat).
			g.Initializer = append(g.Initializer, intsTensor("/zero", 0), intsTensor("/minus1", -1))
			flat.OpType, flat.Attribute = "Reshape", nil
			flat.Input = append(flat.Input, "/shape")
			x := flat.Input[0]
			insertBefore(g, flat,
				&protos.NodeProto{Name: "/Shape", OpType: "Shape", Input: []string{x}, Output: []string{"/s"}},
				&protos.NodeProto{Name: "/Gather", OpType: "Gather", Input: []string{"/s", "/zero"}, Output: []string{"/n"}},
				&protos.NodeProto{Name: "/Concat", OpType: "Concat", Input: []string{"/n", "/minus1"}, Output: []string{"/shape"},
					Attribute: []*protos.AttributeProto{{Name: "axis", Type: protos.AttributeProto_INT, I: 0}}})
			// Gemm(x, W, b, transB) → MatMul(x, Transpose(Identity(W))) + Add(b as a Constant [1, classes]).
			b := initializerOf(g, gemm.Input[2])
			g.Initializer = slices.DeleteFunc(g.Initializer, func(t *protos.TensorProto) bool { return t == b })
			b.Name, b.Dims = "", []int64{1, b.Dims[0]}
			out := gemm.Output[0]
			insertBefore(g, gemm,
				&protos.NodeProto{Name: "/fc_w", OpType: "Identity", Input: []string{gemm.Input[1]}, Output: []string{"/w"}},
				&protos.NodeProto{Name: "/fc_t", OpType: "Transpose", Input: []string{"/w"}, Output: []string{"/wt"},
					Attribute: []*protos.AttributeProto{{Name: "perm", Type: protos.AttributeProto_INTS, Ints: []int64{1, 0}}}},
				&protos.NodeProto{Name: "/fc_b", OpType: "Constant", Output: []string{"/b"},
					Attribute: []*protos.AttributeProto{{Name: "value", Type: protos.AttributeProto_TENSOR, T: b}}})
			gemm.OpType, gemm.Attribute, gemm.Input, gemm.Output = "MatMul", nil, []string{gemm.Input[0], "/wt"}, []string{"/mm"}
			insertAfter(g, gemm, &protos.NodeProto{Name: "/fc_add", OpType: "Add", Input: []string{"/mm", "/b"}, Output: []string{out}})
		}, same},
		{"batch-norm-training-mode", base, func(m *protos.ModelProto) {
			m.OpsetImport[0].Version = 15
			for _, n := range nodesOf(m.Graph, "BatchNormalization") {
				setAttr(n, &protos.AttributeProto{Name: "training_mode", Type: protos.AttributeProto_INT, I: 1})
				n.Output = append(n.Output, n.Output[0]+"_mean", n.Output[0]+"_var")
			}
		}, same},
		{"batch-norm-opset7", base, func(m *protos.ModelProto) {
			m.OpsetImport[0].Version, m.IrVersion = 7, 3
			for _, n := range nodesOf(m.Graph, "BatchNormalization") {
				setAttr(n, &protos.AttributeProto{Name: "spatial", Type: protos.AttributeProto_INT, I: 1})
				n.Output = append(n.Output, n.Output[0]+"_m", n.Output[0]+"_v", n.Output[0]+"_sm", n.Output[0]+"_sv")
			}
		}, same},
		{"float16", base, func(m *protos.ModelProto) {
			convertFloats(m, protos.TensorProto_FLOAT16, func(v float32) []byte {
				return binary.LittleEndian.AppendUint16(nil, float16.FromFloat32(v).Bits())
			})
		}, func(v float32) float32 { return float16.FromFloat32(v).Float32() }},
		{"float16-int32-data", base, func(m *protos.ModelProto) {
			convertFloats(m, protos.TensorProto_FLOAT16, func(v float32) []byte {
				return binary.LittleEndian.AppendUint16(nil, float16.FromFloat32(v).Bits())
			})
			for _, t := range m.Graph.Initializer {
				if t.DataType == int32(protos.TensorProto_FLOAT16) {
					for i := 0; i < len(t.RawData); i += 2 {
						t.Int32Data = append(t.Int32Data, int32(binary.LittleEndian.Uint16(t.RawData[i:])))
					}
					t.RawData = nil
				}
			}
		}, func(v float32) float32 { return float16.FromFloat32(v).Float32() }},
		{"bfloat16", base, func(m *protos.ModelProto) {
			convertFloats(m, protos.TensorProto_BFLOAT16, func(v float32) []byte {
				return binary.LittleEndian.AppendUint16(nil, uint16(bfloat16.FromFloat32(v)))
			})
		}, func(v float32) float32 { return bfloat16.FromFloat32(v).Float32() }},
		{"float64", base, func(m *protos.ModelProto) {
			convertFloats(m, protos.TensorProto_DOUBLE, func(v float32) []byte {
				return binary.LittleEndian.AppendUint64(nil, math.Float64bits(float64(v)))
			})
		}, same},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain := onnxtest.ResNet(tc.o)
			want, err := Parse("plain.onnx", plain)
			if err != nil {
				t.Fatal(err)
			}
			w, err := Parse(tc.name+".onnx", mutate(t, plain, tc.f))
			if err != nil {
				t.Fatal(err)
			}
			requireSameVars(t, w, want, tc.round)
		})
	}
}

// TestConvBiasBeforeBatchNorm: a convolution with a bias before its batch norm (not torchvision's, but
// what other exporters write) imports as the batch norm of mean − bias.
func TestConvBiasBeforeBatchNorm(t *testing.T) {
	plain := onnxtest.ResNet(onnxtest.Options{Model: "resnet18", Divisor: 16, Classes: 5, Size: 32, Seed: 9})
	want, err := Parse("plain.onnx", plain)
	if err != nil {
		t.Fatal(err)
	}
	w, err := Parse("bias.onnx", mutate(t, plain, func(m *protos.ModelProto) {
		g := m.Graph
		for _, n := range nodesOf(g, "BatchNormalization") {
			mean := initializerOf(g, n.Input[3])
			conv := slices.IndexFunc(g.Node, func(c *protos.NodeProto) bool { return c.Output[0] == n.Input[0] })
			bias := &protos.TensorProto{Name: mean.Name + "_conv_bias", Dims: mean.Dims, DataType: mean.DataType}
			for i := 0; i < len(mean.RawData); i += 4 { // bias 0.25, mean + 0.25: the same function
				bias.RawData = binary.LittleEndian.AppendUint32(bias.RawData, math.Float32bits(0.25))
				binary.LittleEndian.PutUint32(mean.RawData[i:], math.Float32bits(math.Float32frombits(binary.LittleEndian.Uint32(mean.RawData[i:]))+0.25))
			}
			g.Initializer = append(g.Initializer, bias)
			g.Node[conv].Input = append(g.Node[conv].Input, bias.Name)
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	for path, v := range want.vars {
		if d := maxAbsDiff(w.vars[path].data, v.data); d > 1e-6 {
			t.Errorf("variable %s differs by %g", path, d)
		}
	}
}

// TestExportErrors: files the importer cannot read get one line that names the node or tensor, says what
// was expected, and gives advice that holds for that file.
func TestExportErrors(t *testing.T) {
	plain := onnxtest.ResNet(onnxtest.Options{Model: "resnet18", Divisor: 16, Classes: 5, Size: 32, Seed: 9})
	stem := func(m *protos.ModelProto) *protos.NodeProto { return nodesOf(m.Graph, "Conv")[0] }
	for _, tc := range []struct {
		name string
		f    func(m *protos.ModelProto)
		want []string
	}{
		{"identity-cycle", func(m *protos.ModelProto) {
			s := stem(m)
			insertBefore(m.Graph, s, &protos.NodeProto{Name: "/a", OpType: "Identity", Input: []string{"/b_out"}, Output: []string{"/a_out"}},
				&protos.NodeProto{Name: "/b", OpType: "Identity", Input: []string{"/a_out"}, Output: []string{"/b_out"}})
			s.Input[1] = "/a_out"
		}, []string{"Identity or Cast nodes that write", "form a cycle"}},
		{"weights-computed", func(m *protos.ModelProto) {
			s := stem(m)
			initializerOf(m.Graph, s.Input[1]).Name = "w_half"
			m.Graph.Initializer = append(m.Graph.Initializer, &protos.TensorProto{Name: "two", DataType: int32(protos.TensorProto_FLOAT), FloatData: []float32{2}})
			insertBefore(m.Graph, s, &protos.NodeProto{Name: "/scale", OpType: "Mul", Input: []string{"w_half", "two"}, Output: []string{s.Input[1]}})
		}, []string{`Conv "/Conv_1": weights: "conv1.weight" is computed by Mul "/scale", not stored in the file`}},
		{"quantized", func(m *protos.ModelProto) {
			s := stem(m)
			initializerOf(m.Graph, s.Input[1]).Name = "w_q"
			insertBefore(m.Graph, s, &protos.NodeProto{Name: "/dq", OpType: "DequantizeLinear", Input: []string{"w_q", "scale"}, Output: []string{s.Input[1]}})
		}, []string{`"conv1.weight" is computed by DequantizeLinear "/dq": a quantized model`}},
		{"weights-as-inputs", func(m *protos.ModelProto) {
			for _, t := range m.Graph.Initializer {
				m.Graph.Input = append(m.Graph.Input, &protos.ValueInfoProto{Name: t.Name})
			}
			m.Graph.Initializer = nil
		}, []string{`Conv "/Conv_1" reads its weights from the graph input "conv1.weight", which has no value in the file`, "export_params=False"}},
		{"one-weight-as-input", func(m *protos.ModelProto) {
			w := initializerOf(m.Graph, stem(m).Input[1])
			m.Graph.Initializer = slices.DeleteFunc(m.Graph.Initializer, func(t *protos.TensorProto) bool { return t == w })
			m.Graph.Input = append(m.Graph.Input, &protos.ValueInfoProto{Name: w.Name})
		}, []string{`Conv "/Conv_1" reads its weights from the graph input "conv1.weight"`}},
		{"pad-reflect", func(m *protos.ModelProto) {
			s := stem(m)
			setAttr(s, &protos.AttributeProto{Name: "pads"})
			insertBefore(m.Graph, s, &protos.NodeProto{Name: "/pad", OpType: "Pad", Input: []string{s.Input[0]}, Output: []string{"/padded"},
				Attribute: []*protos.AttributeProto{{Name: "mode", Type: protos.AttributeProto_STRING, S: []byte("reflect")},
					{Name: "pads", Type: protos.AttributeProto_INTS, Ints: []int64{0, 0, 3, 3, 0, 0, 3, 3}}}})
			s.Input[0] = "/padded"
		}, []string{`the image input goes to Pad "/pad", which pads in mode "reflect"; torchvision's ResNet pads with zeros; a torchvision ResNet has a Conv there`}},
		{"maxpool-pad-positive", func(m *protos.ModelProto) {
			p := nodesOf(m.Graph, "MaxPool")[0]
			setAttr(p, &protos.AttributeProto{Name: "pads"})
			insertBefore(m.Graph, p, &protos.NodeProto{Name: "/pad", OpType: "Pad", Input: []string{p.Input[0]}, Output: []string{"/padded"},
				Attribute: []*protos.AttributeProto{{Name: "pads", Type: protos.AttributeProto_INTS, Ints: []int64{0, 0, 1, 1, 0, 0, 1, 1}},
					{Name: "value", Type: protos.AttributeProto_FLOAT, F: 1}}})
			p.Input[0] = "/padded"
		}, []string{`the stem's MaxPool "/MaxPool_4" reads a Pad that pads with 1`}},
		{"same-upper-stride-2", func(m *protos.ModelProto) {
			s := stem(m)
			setAttr(s, &protos.AttributeProto{Name: "pads"})
			setAttr(s, &protos.AttributeProto{Name: "auto_pad", Type: protos.AttributeProto_STRING, S: []byte("SAME_UPPER")})
		}, []string{`Conv "/Conv_1" 7×7 stride 2, 3→4 channels: auto_pad SAME_UPPER at stride 2 pads by the input's size`}},
		{"nan", func(m *protos.ModelProto) {
			w := initializerOf(m.Graph, stem(m).Input[1])
			binary.LittleEndian.PutUint32(w.RawData[20:], math.Float32bits(float32(math.NaN())))
		}, []string{`"conv1.weight" holds NaN (value 5 of 588, FLOAT); a ResNet's weights are finite`}},
		{"batch-norm-spatial-0", func(m *protos.ModelProto) {
			setAttr(nodesOf(m.Graph, "BatchNormalization")[0], &protos.AttributeProto{Name: "spatial", Type: protos.AttributeProto_INT, I: 0})
		}, []string{`BatchNormalization "/BatchNormalization_2" has spatial=0`}},
		{"cast-to-int", func(m *protos.ModelProto) {
			s := stem(m)
			insertBefore(m.Graph, s, &protos.NodeProto{Name: "/to_int", OpType: "Cast", Input: []string{s.Input[0]}, Output: []string{"/int"},
				Attribute: []*protos.AttributeProto{{Name: "to", Type: protos.AttributeProto_INT, I: int64(protos.TensorProto_INT8)}}})
			s.Input[0] = "/int"
		}, []string{`the image input goes to Cast "/to_int", which casts to INT8`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("bad.onnx", mutate(t, plain, tc.f))
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			t.Log(msg)
			for _, want := range append([]string{"pretrained model bad.onnx: "}, tc.want...) {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q should say %q", msg, want)
				}
			}
			if strings.Contains(msg, "\n") || strings.Contains(msg, "unexpected content") {
				t.Errorf("not one clear line: %q", msg)
			}
		})
	}
}
