package pretrained

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/compute-onnx/support/protos"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/dtypes/float16"
)

// What exporters write besides the operators of the ResNet itself, and how the reader sees through it.
//
//   - Shared tensors. torch.onnx.export stores equal initializers once and feeds the other readers through
//     Identity nodes (a model never trained has every folded bias zero; briefly trained ones share some);
//     other tools chain Identity nodes or let several nodes read one initializer. Identity nodes are
//     skipped, for weights and on the data path alike.
//   - Initializers listed as graph inputs (keep_initializers_as_inputs=True, and every file of IR version
//     < 4): the initializer is the input's default, so it is a weight, not a second image input.
//   - Opsets 7 to 18: batch norms with spatial (7) or training_mode (14), extra outputs in training mode;
//     padding in Pad nodes (attributes up to opset 10, inputs since 11) or auto_pad; ReduceMean's axes as
//     an attribute or an input (18); Flatten, Reshape (with a shape computed by Shape → Gather → Concat)
//     or Squeeze before Gemm or MatMul + Add.
//   - Float16, bfloat16 or float64 weights, converted to float32; Cast nodes between float types (float16
//     weights cast to float32 before use, or a float16 model behind a float32 input) are skipped.
//
// newReader does this once: the walker (onnx.go) then sees normalized copies of the nodes with every input
// renamed to the value it really is, and Pad nodes folded into the Conv or MaxPool they pad.

// floatTypes are the Cast targets the reader looks through: a cast between them changes precision only.
var floatTypes = map[protos.TensorProto_DataType]bool{protos.TensorProto_FLOAT: true, protos.TensorProto_FLOAT16: true,
	protos.TensorProto_BFLOAT16: true, protos.TensorProto_DOUBLE: true}

// newReader normalizes g's nodes (see above) and indexes them.
func newReader(g *protos.GraphProto) (*onnxReader, error) {
	r := &onnxReader{graph: g, producers: map[string]*protos.NodeProto{}, consts: map[string]*protos.TensorProto{},
		inputs: map[string]bool{}, padValue: map[*protos.NodeProto]float64{}, why: map[*protos.NodeProto]string{}}
	for _, t := range g.GetInitializer() {
		r.consts[t.GetName()] = t
	}
	for _, in := range g.GetInput() {
		r.inputs[in.GetName()] = true
	}
	alias := map[string]string{}
	skipped := map[*protos.NodeProto]bool{}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			if o != "" {
				r.producers[o] = n
			}
		}
		ins, outs := n.GetInput(), n.GetOutput()
		if len(outs) != 1 || outs[0] == "" {
			continue
		}
		switch n.GetOpType() {
		case "Constant":
			if t := constantValue(n); t != nil {
				r.consts[outs[0]] = t
			}
		case "Identity":
			if len(ins) == 1 && ins[0] != "" {
				alias[outs[0]], skipped[n] = ins[0], true
			}
		case "Cast":
			to := protos.TensorProto_DataType(attrInt(n, "to", 0))
			if len(ins) == 1 && ins[0] != "" && floatTypes[to] {
				alias[outs[0]], skipped[n] = ins[0], true
			} else {
				r.why[n] = fmt.Sprintf("casts to %s", to)
			}
		}
	}
	r.alias = alias
	for i, n := range g.GetNode() {
		if skipped[n] {
			continue
		}
		c := &protos.NodeProto{Name: n.GetName(), OpType: n.GetOpType(), Domain: n.GetDomain(), Output: n.GetOutput(),
			Attribute: n.GetAttribute(), Input: make([]string, len(n.GetInput()))}
		if c.Name == "" {
			c.Name = fmt.Sprintf("node %d", i)
		}
		for j, in := range n.GetInput() {
			var err error
			if c.Input[j], err = r.resolve(in); err != nil {
				return nil, err
			}
		}
		if why, ok := r.why[n]; ok {
			r.why[c] = why
		}
		r.nodes = append(r.nodes, c)
	}
	r.index()
	// Fold Pad nodes into the nodes they pad, until none is left that can be (a Pad may pad a Pad).
	for folded := true; folded; {
		folded = false
		for i, n := range r.nodes {
			if n.GetOpType() == "Pad" && r.foldPad(n) {
				r.nodes = slices.Delete(r.nodes, i, i+1)
				r.index()
				folded = true
				break
			}
		}
	}
	return r, nil
}

// resolve returns the value name stands for: itself, or what the Identity (or float Cast) nodes that
// write it copy.
func (r *onnxReader) resolve(name string) (string, error) {
	for steps := 0; ; steps++ {
		next, ok := r.alias[name]
		if !ok {
			return name, nil
		}
		if steps > len(r.alias) {
			return "", fmt.Errorf("the Identity or Cast nodes that write %q form a cycle", name)
		}
		name = next
	}
}

// index fills r.consumers from r.nodes. Shape and Size read no values, only the shape: a Reshape's shape
// computed from the pooled features' does not make them go to two places.
func (r *onnxReader) index() {
	r.consumers = map[string][]*protos.NodeProto{}
	for _, n := range r.nodes {
		if op := n.GetOpType(); op == "Shape" || op == "Size" {
			continue
		}
		for _, in := range n.GetInput() {
			if l := r.consumers[in]; in != "" && (len(l) == 0 || l[len(l)-1] != n) { // Add(x, x) reads x once
				r.consumers[in] = append(l, n)
			}
		}
	}
}

// foldPad moves a constant-mode Pad of the spatial axes into the Convs (padding with 0) and MaxPools that
// read it, as their pads, and reports whether it did; if not, r.why says why.
func (r *onnxReader) foldPad(p *protos.NodeProto) bool {
	pads, value, err := r.padSpec(p)
	if err != nil {
		r.why[p] = err.Error()
		return false
	}
	cons := r.consumers[p.GetOutput()[0]]
	if len(cons) == 0 {
		return false
	}
	for _, c := range cons {
		switch {
		case c.GetOpType() != "Conv" && c.GetOpType() != "MaxPool":
			r.why[p] = fmt.Sprintf("pads the input of %s %q, not of a Conv or MaxPool", c.GetOpType(), c.GetName())
			return false
		case c.GetInput()[0] != p.GetOutput()[0] || slices.Contains(c.GetInput()[1:], p.GetOutput()[0]):
			r.why[p] = fmt.Sprintf("is read by %s %q other than as its data", c.GetOpType(), c.GetName())
			return false
		case !autoPadNotSet(c) || len(attrInts(c, "pads")) != 0 && len(attrInts(c, "pads")) != 4:
			r.why[p] = fmt.Sprintf("pads %s %q, which has auto_pad %q or pads %v", c.GetOpType(), c.GetName(), attrString(c, "auto_pad"), attrInts(c, "pads"))
			return false
		case c.GetOpType() == "Conv" && value != 0:
			r.why[p] = fmt.Sprintf("pads with %g; a convolution's padding is 0", value)
			return false
		}
	}
	for _, c := range cons {
		own := attrInts(c, "pads")
		if len(own) == 0 {
			own = []int64{0, 0, 0, 0}
		}
		merged := []int64{own[0] + pads[2], own[1] + pads[3], own[2] + pads[6], own[3] + pads[7]}
		attrs := slices.DeleteFunc(slices.Clone(c.GetAttribute()), func(a *protos.AttributeProto) bool { return a.GetName() == "pads" })
		c.Attribute = append(attrs, &protos.AttributeProto{Name: "pads", Type: protos.AttributeProto_INTS, Ints: merged})
		c.Input = slices.Clone(c.GetInput())
		c.Input[0] = p.GetInput()[0]
		if c.GetOpType() == "MaxPool" {
			if old, ok := r.padValue[c]; ok {
				value = max(old, value)
			}
			r.padValue[c] = value
		}
	}
	return true
}

// padSpec returns a Pad's padding of a 4-D tensor ([N, C, H, W] begins, then ends) and its value: attributes
// up to opset 10, inputs (pads, constant_value, and since 18 axes) since 11. Only constant padding of the
// spatial axes can be folded.
func (r *onnxReader) padSpec(p *protos.NodeProto) ([]int64, float64, error) {
	if mode := attrString(p, "mode"); mode != "" && mode != "constant" {
		return nil, 0, fmt.Errorf("pads in mode %q; torchvision's ResNet pads with zeros", mode)
	}
	ins := p.GetInput()
	pads, value := attrInts(p, "pads"), float64(attrFloat(p, "value", 0))
	if len(pads) == 0 {
		pads = attrInts(p, "paddings") // opset 1
	}
	var err error
	if len(ins) > 1 && ins[1] != "" {
		if pads, err = r.ints(ins[1]); err != nil {
			return nil, 0, fmt.Errorf("has pads %w", err)
		}
	}
	if len(ins) > 2 && ins[2] != "" { // a scalar, -inf for a MaxPool's padding
		t, ok := r.consts[ins[2]]
		if !ok {
			return nil, 0, fmt.Errorf("pads with %w", r.notConstant(ins[2]))
		}
		v, err := decode(t, false)
		if err != nil || len(v.data) != 1 {
			return nil, 0, fmt.Errorf("pads with %q, not a single float (%v)", ins[2], err)
		}
		value = float64(v.data[0])
	}
	if len(ins) > 3 && ins[3] != "" { // opset 18: pads for these axes only
		axes, err := r.ints(ins[3])
		if err != nil {
			return nil, 0, fmt.Errorf("has axes %w", err)
		}
		if len(pads) != 2*len(axes) {
			return nil, 0, fmt.Errorf("has %d pads for %d axes", len(pads), len(axes))
		}
		full := make([]int64, 8)
		for i, a := range axes {
			if a < 0 {
				a += 4
			}
			if a < 0 || a > 3 {
				return nil, 0, fmt.Errorf("pads axis %d of a 4-D tensor", axes[i])
			}
			full[a], full[4+a] = pads[i], pads[len(axes)+i]
		}
		pads = full
	}
	if len(pads) != 8 || pads[0] != 0 || pads[1] != 0 || pads[4] != 0 || pads[5] != 0 || slices.Min(pads) < 0 {
		return nil, 0, fmt.Errorf("has pads %v; only padding of the 4-D images' height and width folds into a convolution", pads)
	}
	return pads, value, nil
}

// imageInput returns the graph input that holds the images: the one without an initializer (an input with
// one is a weight, the initializer its default value).
func (r *onnxReader) imageInput() (*protos.ValueInfoProto, error) {
	var candidates []*protos.ValueInfoProto
	for _, in := range r.graph.GetInput() {
		if _, isConst := r.consts[in.GetName()]; !isConst {
			candidates = append(candidates, in)
		}
	}
	switch len(candidates) {
	case 0:
		return nil, fmt.Errorf("the graph has no input")
	case 1:
		return candidates[0], nil
	}
	// Weights given as inputs without values: a file exported without its weights.
	for _, n := range r.nodes {
		for i, in := range n.GetInput() {
			if i > 0 && r.inputs[in] && r.consts[in] == nil && weightOps[n.GetOpType()] {
				return nil, fmt.Errorf("%s %q reads its weights from the graph input %q, which has no value in the file: %s",
					n.GetOpType(), n.GetName(), in, noWeightsAdvice)
			}
		}
	}
	return nil, fmt.Errorf("the graph has %d inputs (%q, %q…); a ResNet has one, the images", len(candidates), candidates[0].GetName(), candidates[1].GetName())
}

// noWeightsAdvice is what to do about a file whose weights are inputs without values.
const noWeightsAdvice = "the model was exported without its weights (torch.onnx.export with export_params=False); export it with them"

// weightOps are the operators whose inputs after the first are a ResNet's weights.
var weightOps = map[string]bool{"Conv": true, "BatchNormalization": true, "Gemm": true, "MatMul": true}

// tensor returns the constant called name as float32, with the given rank (for rank 1: any shape with at
// most one axis longer than 1, such as a bias [1, classes]; for rank 0: a single value). Weights behind a
// Transpose of a matrix (a MatMul classifier's, exported without constant folding) are transposed here.
func (r *onnxReader) tensor(name string, rank int) (*tensorF32, error) {
	t, ok := r.consts[name]
	if !ok {
		if p := r.producers[name]; p != nil && p.GetOpType() == "Transpose" && rank == 2 && len(p.GetInput()) == 1 &&
			(len(attrInts(p, "perm")) == 0 || slices.Equal(attrInts(p, "perm"), []int64{1, 0})) {
			src, err := r.resolve(p.GetInput()[0])
			if err != nil {
				return nil, err
			}
			if _, ok := r.consts[src]; !ok { // one Transpose of a stored matrix, not a chain
				return nil, r.notConstant(src)
			}
			in, err := r.tensor(src, 2)
			if err != nil {
				return nil, err
			}
			return in.transpose2(), nil
		}
		return nil, r.notConstant(name)
	}
	out, err := decode(t, true)
	if err != nil {
		return nil, fmt.Errorf("%q %w", name, err)
	}
	switch {
	case rank == 0:
		if len(out.data) != 1 {
			return nil, fmt.Errorf("%q has dimensions %v; want a single value", name, t.GetDims())
		}
	case rank == 1:
		n := len(out.data)
		if len(out.dims) == 0 || slices.Max(out.dims) != n {
			return nil, fmt.Errorf("%q has dimensions %v; want a vector", name, t.GetDims())
		}
		out.dims = []int{n}
	case len(out.dims) != rank:
		return nil, fmt.Errorf("%q has %d axes, want %d", name, len(out.dims), rank)
	}
	return out, nil
}

// notConstant says why name, read as a weight, is not a constant, with advice that holds for the file.
func (r *onnxReader) notConstant(name string) error {
	if r.inputs[name] {
		return fmt.Errorf("%q is a graph input with no value in the file: %s", name, noWeightsAdvice)
	}
	p := r.producers[name]
	switch {
	case p == nil:
		return fmt.Errorf("%q is neither stored in the file nor computed by any of its nodes (a broken file)", name)
	case p.GetOpType() == "DequantizeLinear" || p.GetDomain() == "com.microsoft":
		return fmt.Errorf("%q is computed by %s %q: a quantized model; gonbgpu imports float weights (export the float model)", name, p.GetOpType(), p.GetName())
	default:
		return fmt.Errorf("%q is computed by %s %q, not stored in the file; a ResNet's weights are stored constants", name, p.GetOpType(), p.GetName())
	}
}

// ints returns the integer constant called name (a shape, axes or pads).
func (r *onnxReader) ints(name string) ([]int64, error) {
	t, ok := r.consts[name]
	if !ok {
		return nil, r.notConstant(name)
	}
	size, err := numValues(t)
	if err != nil {
		return nil, fmt.Errorf("%q %w", name, err)
	}
	if size > 64 {
		return nil, fmt.Errorf("%q has %d values; want a few integers", name, size)
	}
	raw := t.GetRawData()
	out := make([]int64, size)
	switch dt := protos.TensorProto_DataType(t.GetDataType()); {
	case dt == protos.TensorProto_INT64 && len(raw) == 8*size:
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
		}
	case dt == protos.TensorProto_INT32 && len(raw) == 4*size:
		for i := range out {
			out[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
		}
	case dt == protos.TensorProto_INT64 && len(raw) == 0 && len(t.GetInt64Data()) == size:
		copy(out, t.GetInt64Data())
	case dt == protos.TensorProto_INT32 && len(raw) == 0 && len(t.GetInt32Data()) == size:
		for i, v := range t.GetInt32Data() {
			out[i] = int64(v)
		}
	default:
		return nil, fmt.Errorf("%q is %s with %d bytes for %d values; want integers", name, dt, len(raw), size)
	}
	return out, nil
}

// numValues checks a tensor's dimensions (bounded: no file can make the reader allocate more than 2²⁸
// values at once) and returns its number of values.
func numValues(t *protos.TensorProto) (int, error) {
	size := 1
	for _, d := range t.GetDims() {
		if d <= 0 || d > 1<<20 {
			return 0, fmt.Errorf("has dimensions %v", t.GetDims())
		}
		size *= int(d)
		if size > 1<<28 {
			return 0, fmt.Errorf("has dimensions %v: too large", t.GetDims())
		}
	}
	if t.GetDataLocation() == protos.TensorProto_EXTERNAL {
		return 0, fmt.Errorf("is stored in an external data file; gonbgpu reads single-file models (ResNets are < 2 GB: export without external data)")
	}
	return size, nil
}

// decode converts a float tensor (float32, float64, float16 or bfloat16; in raw_data or in the typed
// fields) to float32. With finite, infinite or NaN values, which no trained ResNet's weights hold (a
// float16 conversion that overflowed does), are refused.
func decode(t *protos.TensorProto, finite bool) (*tensorF32, error) {
	size, err := numValues(t)
	if err != nil {
		return nil, err
	}
	out := &tensorF32{}
	for _, d := range t.GetDims() {
		out.dims = append(out.dims, int(d))
	}
	raw := t.GetRawData()
	dt := protos.TensorProto_DataType(t.GetDataType())
	width := map[protos.TensorProto_DataType]int{protos.TensorProto_FLOAT: 4, protos.TensorProto_DOUBLE: 8,
		protos.TensorProto_FLOAT16: 2, protos.TensorProto_BFLOAT16: 2}[dt]
	if width == 0 {
		return nil, fmt.Errorf("is %s; gonbgpu imports float weights (float32, float16, bfloat16 or float64)", dt)
	}
	// The typed field that holds the values when raw_data does not: float16 and bfloat16 go in int32_data,
	// one value (its 16 bits) per element.
	var typed int
	switch dt {
	case protos.TensorProto_FLOAT:
		typed = len(t.GetFloatData())
	case protos.TensorProto_DOUBLE:
		typed = len(t.GetDoubleData())
	default:
		typed = len(t.GetInt32Data())
	}
	switch {
	case len(raw) > 0 && len(raw) != width*size:
		return nil, fmt.Errorf("has %d bytes of data for %d %s values (truncated?)", len(raw), size, dt)
	case len(raw) == 0 && typed != size:
		return nil, fmt.Errorf("has %d values, want %d (truncated?)", typed, size)
	}
	out.data = make([]float32, size)
	for i := range out.data {
		var v float32
		switch {
		case dt == protos.TensorProto_FLOAT && len(raw) > 0:
			v = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		case dt == protos.TensorProto_FLOAT:
			v = t.GetFloatData()[i]
		case dt == protos.TensorProto_DOUBLE && len(raw) > 0:
			v = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
		case dt == protos.TensorProto_DOUBLE:
			v = float32(t.GetDoubleData()[i])
		default:
			var bits uint16
			if len(raw) > 0 {
				bits = binary.LittleEndian.Uint16(raw[2*i:])
			} else {
				bits = uint16(t.GetInt32Data()[i])
			}
			if dt == protos.TensorProto_FLOAT16 {
				v = float16.FromBits(bits).Float32()
			} else {
				v = bfloat16.FromBits(bits).Float32()
			}
		}
		if finite && (math.IsInf(float64(v), 0) || math.IsNaN(float64(v))) {
			return nil, fmt.Errorf("holds %v (value %d of %d, %s); a ResNet's weights are finite", v, i, size, dt)
		}
		out.data[i] = v
	}
	return out, nil
}

// constantValue returns a Constant node's value as a tensor, or nil (a sparse or string constant).
func constantValue(n *protos.NodeProto) *protos.TensorProto {
	for _, a := range n.GetAttribute() {
		switch a.GetName() {
		case "value":
			return a.GetT()
		case "value_float":
			return &protos.TensorProto{DataType: int32(protos.TensorProto_FLOAT), FloatData: []float32{a.GetF()}}
		case "value_floats":
			return &protos.TensorProto{DataType: int32(protos.TensorProto_FLOAT), Dims: []int64{int64(len(a.GetFloats()))}, FloatData: a.GetFloats()}
		case "value_int":
			return &protos.TensorProto{DataType: int32(protos.TensorProto_INT64), Int64Data: []int64{a.GetI()}}
		case "value_ints":
			return &protos.TensorProto{DataType: int32(protos.TensorProto_INT64), Dims: []int64{int64(len(a.GetInts()))}, Int64Data: a.GetInts()}
		}
	}
	return nil
}
