package pretrained

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gomlx/compute-onnx/support/protos"
	"google.golang.org/protobuf/proto"
)

// Reading a torchvision ResNet from its ONNX graph.
//
// The weights are found by the graph's structure, not by their names: torch.onnx.export in eval mode folds
// every batch norm into the convolution before it and names the folded weights "onnx::Conv_193", so names
// say nothing. The reader follows the data flow from the image input: the stem (Conv [+ BatchNormalization]
// → Relu → MaxPool), then blocks (a main path of 2 or 3 convolutions, a skip connection that is either the
// block's input or a 1×1 projection, an Add and a Relu) until GlobalAveragePool → Flatten → Gemm. Every
// convolution's kernel, stride, padding and channels are checked against torchvision's ResNet, so a file
// that is not one fails with what did not match.

// convLayer is one convolution of the file with its batch norm (nil when folded into the convolution).
type convLayer struct {
	node    *protos.NodeProto
	w       *tensorF32 // [out, in, k, k]
	bias    *tensorF32 // folded batch norm's offset, or nil
	bn      *bnParams  // nil when folded
	out     string     // the layer's output (after the batch norm)
	k       int
	stride  int
	inC     int
	outC    int
	summary string // for errors: "Conv \"name\" 3×3 stride 2, 64→128"
}

type bnParams struct {
	scale, offset, mean, variance *tensorF32
	epsilon                       float64
}

// block is one residual block as found in the file.
type block struct {
	main     []*convLayer // 2 (basic) or 3 (bottleneck)
	shortcut *convLayer   // nil: identity
	stride   int
}

// resnetGraph is what the reader found.
type resnetGraph struct {
	input      string
	inputDims  []int64 // NCHW; ≤0 for dynamic
	stem       *convLayer
	blocks     []*block
	fcW, fcB   *tensorF32 // fcW is [classes, features]
	numClasses int
}

// tensorF32 is a float32 initializer.
type tensorF32 struct {
	dims []int
	data []float32
}

// onnxReader walks one file's graph, as normalized by newReader (graph.go): Identity and Cast nodes
// skipped, Pad nodes folded into the convolution or pooling they pad.
type onnxReader struct {
	graph     *protos.GraphProto
	nodes     []*protos.NodeProto            // the normalized nodes (copies; the file's are not changed)
	consumers map[string][]*protos.NodeProto // who reads a value (Shape and Size nodes, which read no values, left out)
	producers map[string]*protos.NodeProto   // the file's node that writes a value
	consts    map[string]*protos.TensorProto // initializers and Constant nodes' values
	alias     map[string]string              // an Identity's (or float Cast's) output → its input
	inputs    map[string]bool                // the graph's inputs
	// padValue is the value a folded Pad pads a MaxPool's input with (a Conv's must be 0).
	padValue map[*protos.NodeProto]float64
	// why says why a node was not folded or skipped, for the error that meets it.
	why map[*protos.NodeProto]string
}

// parseONNX decodes contents (the bytes of an .onnx file) and finds the ResNet in it. Errors say what did not
// match, without the file name (the caller adds it).
func parseONNX(contents []byte) (*resnetGraph, error) {
	if len(contents) == 0 {
		return nil, fmt.Errorf("the file is empty")
	}
	var m protos.ModelProto
	if err := proto.Unmarshal(contents, &m); err != nil {
		return nil, fmt.Errorf("not a readable ONNX model (truncated or not ONNX): %v", err)
	}
	g := m.GetGraph()
	if g == nil || len(g.GetNode()) == 0 {
		return nil, fmt.Errorf("not an ONNX model: no graph (truncated or not ONNX)")
	}
	rg, err := findResNet(g)
	if err != nil {
		return nil, fmt.Errorf("not a torchvision ResNet: %w", err)
	}
	return rg, nil
}

// findResNet follows the graph's data flow from its input (see the comment at the top).
func findResNet(g *protos.GraphProto) (*resnetGraph, error) {
	r, err := newReader(g)
	if err != nil {
		return nil, err
	}
	rg := &resnetGraph{}
	in, err := r.imageInput()
	if err != nil {
		return nil, err
	}
	rg.input = in.GetName()
	for _, d := range in.GetType().GetTensorType().GetShape().GetDim() {
		v := d.GetDimValue()
		if d.GetDimParam() != "" {
			v = 0
		}
		rg.inputDims = append(rg.inputDims, v)
	}
	if len(rg.inputDims) != 4 {
		return nil, fmt.Errorf("the input %q has %d axes; a ResNet takes images [batch, channels, height, width]", rg.input, len(rg.inputDims))
	}

	// Stem: Conv 7×7/2 [+ BN] → Relu → MaxPool 3×3/2.
	conv, err := r.only(rg.input, "Conv", "the image input")
	if err != nil {
		return nil, err
	}
	if rg.stem, err = r.convLayer(conv); err != nil {
		return nil, err
	}
	if rg.stem.k != 7 || rg.stem.stride != 2 {
		return nil, fmt.Errorf("the first convolution is %s; torchvision's ResNet stem is 7×7 stride 2", rg.stem.summary)
	}
	relu, err := r.only(rg.stem.out, "Relu", "the stem convolution")
	if err != nil {
		return nil, err
	}
	pool, err := r.only(relu.GetOutput()[0], "MaxPool", "the stem's ReLU")
	if err != nil {
		return nil, err
	}
	if k, s, p := attrInts(pool, "kernel_shape"), attrInts(pool, "strides"), attrInts(pool, "pads"); !slices.Equal(k, []int64{3, 3}) ||
		!slices.Equal(s, []int64{2, 2}) || !slices.Equal(p, []int64{1, 1, 1, 1}) || attrInt(pool, "ceil_mode", 0) != 0 ||
		!allEqual(attrInts(pool, "dilations"), 1) || !autoPadNotSet(pool) {
		return nil, fmt.Errorf("the stem's MaxPool %q has kernel %v, strides %v, pads %v, dilations %v, ceil_mode %d, auto_pad %q; torchvision's is 3×3, stride 2, padding 1",
			pool.GetName(), k, s, p, attrInts(pool, "dilations"), attrInt(pool, "ceil_mode", 0), attrString(pool, "auto_pad"))
	}
	// A Pad node folded into the MaxPool: its value must not win the maximum. Any value ≤ 0 does not, as
	// the pooled values come out of a ReLU (checked above).
	if v, ok := r.padValue[pool]; ok && !(v <= 0) {
		return nil, fmt.Errorf("the stem's MaxPool %q reads a Pad that pads with %g; after a ReLU, padding with 0 or -inf keeps the maximum torchvision's MaxPool takes", pool.GetName(), v)
	}

	// Blocks, until the global average pooling.
	x := pool.GetOutput()[0]
	for {
		cons := r.consumers[x]
		if len(cons) == 1 && r.isGlobalPool(cons[0]) {
			x = cons[0].GetOutput()[0]
			break
		}
		if len(rg.blocks) > 64 {
			return nil, fmt.Errorf("more than 64 residual blocks: not a ResNet-18/34/50")
		}
		b, out, err := r.block(x, len(rg.blocks))
		if err != nil {
			return nil, err
		}
		rg.blocks = append(rg.blocks, b)
		x = out
	}

	// Head: [Flatten | Reshape] → Gemm.
	next, err := r.single(x, "the global average pooling")
	if err != nil {
		return nil, err
	}
	if op := next.GetOpType(); op == "Flatten" || op == "Reshape" || op == "Squeeze" {
		// [batch, channels, 1, 1] → [batch, channels]. Reshape's shape may be computed from the input's
		// (Shape → Gather → Concat): the classifier's weights check the number of features.
		if axis := attrInt(next, "axis", 1); op == "Flatten" && axis != 1 && axis != -3 {
			return nil, fmt.Errorf("the pooled features go to Flatten %q with axis %d; flattening [batch, channels, 1, 1] to [batch, channels] needs axis 1", next.GetName(), axis)
		}
		x = next.GetOutput()[0]
		if next, err = r.single(x, "the "+op+" after the pooling"); err != nil {
			return nil, err
		}
	}
	switch {
	case next.GetOpType() == "Gemm" && len(next.GetInput()) >= 2:
		if attrFloat(next, "alpha", 1) != 1 || attrFloat(next, "beta", 1) != 1 || attrInt(next, "transA", 0) != 0 {
			return nil, fmt.Errorf("the classifier Gemm %q has alpha, beta or transA other than torch's Linear (1, 1, 0)", next.GetName())
		}
		if rg.fcW, err = r.tensor(next.GetInput()[1], 2); err != nil {
			return nil, fmt.Errorf("the classifier's weights: %w", err)
		}
		if attrInt(next, "transB", 0) == 0 { // stored [features, classes]: make it torch's [classes, features]
			rg.fcW = rg.fcW.transpose2()
		}
		if len(next.GetInput()) > 2 && next.GetInput()[2] != "" {
			if rg.fcB, err = r.tensor(next.GetInput()[2], 1); err != nil {
				return nil, fmt.Errorf("the classifier's bias: %w", err)
			}
		}
	case next.GetOpType() == "MatMul" && len(next.GetInput()) == 2 && next.GetInput()[0] == x: // x·W [+ b]
		if rg.fcW, err = r.tensor(next.GetInput()[1], 2); err != nil {
			return nil, fmt.Errorf("the classifier's weights: %w", err)
		}
		rg.fcW = rg.fcW.transpose2()
		if cons := r.consumers[next.GetOutput()[0]]; len(cons) == 1 && cons[0].GetOpType() == "Add" {
			for _, in := range cons[0].GetInput() {
				if in != next.GetOutput()[0] {
					if rg.fcB, err = r.tensor(in, 1); err != nil {
						return nil, fmt.Errorf("the classifier's bias: %w", err)
					}
				}
			}
		}
	default:
		return nil, fmt.Errorf("the pooled features go to %s %q; torchvision's ResNet ends with a Gemm (its fc layer)", next.GetOpType(), next.GetName())
	}
	rg.numClasses = rg.fcW.dims[0]
	if rg.fcB != nil && rg.fcB.dims[0] != rg.numClasses {
		return nil, fmt.Errorf("the classifier's bias has %d values for %d classes", rg.fcB.dims[0], rg.numClasses)
	}
	return rg, nil
}

// block reads the residual block whose input is x (the index is for errors) and returns it with its output.
func (r *onnxReader) block(x string, index int) (*block, string, error) {
	where := fmt.Sprintf("residual block %d", index+1)
	var convs []*protos.NodeProto
	var adds []*protos.NodeProto
	for _, n := range r.consumers[x] {
		switch n.GetOpType() {
		case "Conv":
			convs = append(convs, n)
		case "Add":
			adds = append(adds, n)
		default:
			return nil, "", fmt.Errorf("%s: its input goes to %s %q; a ResNet block has only convolutions and the skip connection's Add", where, n.GetOpType(), n.GetName())
		}
	}
	if len(convs) == 0 || len(convs) > 2 || len(convs)+len(adds) != 2 {
		return nil, "", fmt.Errorf("%s: its input has %d convolution(s) and %d Add(s) reading it; a ResNet block has a main path and a skip connection", where, len(convs), len(adds))
	}
	b := &block{}
	for _, c := range convs {
		l, err := r.convLayer(c)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", where, err)
		}
		if cons := r.consumers[l.out]; len(cons) == 1 && cons[0].GetOpType() == "Add" && len(convs) == 2 {
			if b.shortcut != nil {
				return nil, "", fmt.Errorf("%s: two convolutions of its input go straight to an Add", where)
			}
			b.shortcut = l
			adds = append(adds, cons[0])
			continue
		}
		b.main = append(b.main, l)
	}
	if len(b.main) != 1 {
		return nil, "", fmt.Errorf("%s: no main path (Conv → … → Add) found", where)
	}
	// Follow the main path: Conv [BN] → Relu → Conv … until an Add.
	l := b.main[0]
	var add *protos.NodeProto
	for {
		n, err := r.single(l.out, where+": "+l.summary)
		if err != nil {
			return nil, "", err
		}
		if n.GetOpType() == "Add" {
			add = n
			break
		}
		if n.GetOpType() != "Relu" {
			return nil, "", fmt.Errorf("%s: %s is followed by %s %q; expected Relu or the skip connection's Add", where, l.summary, n.GetOpType(), n.GetName())
		}
		c, err := r.only(n.GetOutput()[0], "Conv", where+": the ReLU after "+l.summary)
		if err != nil {
			return nil, "", err
		}
		if l, err = r.convLayer(c); err != nil {
			return nil, "", fmt.Errorf("%s: %w", where, err)
		}
		b.main = append(b.main, l)
		if len(b.main) > 3 {
			return nil, "", fmt.Errorf("%s: more than 3 convolutions on the main path; torchvision's blocks have 2 (basic) or 3 (bottleneck)", where)
		}
	}
	if len(b.main) < 2 {
		return nil, "", fmt.Errorf("%s: 1 convolution on the main path; torchvision's blocks have 2 (basic) or 3 (bottleneck)", where)
	}
	other := x
	if b.shortcut != nil {
		other = b.shortcut.out
	}
	ins := add.GetInput()
	if len(ins) != 2 || !((ins[0] == l.out && ins[1] == other) || (ins[1] == l.out && ins[0] == other)) {
		return nil, "", fmt.Errorf("%s: the Add %q does not add the main path to the skip connection", where, add.GetName())
	}
	relu, err := r.single(add.GetOutput()[0], where+": the skip connection's Add")
	if err != nil {
		return nil, "", err
	}
	if relu.GetOpType() != "Relu" {
		return nil, "", fmt.Errorf("%s: the Add is followed by %s %q; expected Relu", where, relu.GetOpType(), relu.GetName())
	}
	for _, c := range b.main {
		b.stride = max(b.stride, c.stride)
	}
	return b, relu.GetOutput()[0], nil
}

// convLayer reads a Conv node's weights and the batch norm that follows it, if any.
func (r *onnxReader) convLayer(n *protos.NodeProto) (*convLayer, error) {
	ins := n.GetInput()
	if len(ins) < 2 || ins[1] == "" {
		return nil, fmt.Errorf("Conv %q has no weights", n.GetName())
	}
	w, err := r.tensor(ins[1], 4)
	if err != nil {
		return nil, fmt.Errorf("Conv %q: weights: %w", n.GetName(), err)
	}
	l := &convLayer{node: n, w: w, outC: w.dims[0], inC: w.dims[1], k: w.dims[2], stride: 1, out: n.GetOutput()[0]}
	if s := attrInts(n, "strides"); len(s) > 0 {
		l.stride = int(s[0])
	}
	l.summary = fmt.Sprintf("Conv %q %d×%d stride %d, %d→%d channels", n.GetName(), l.k, w.dims[3], l.stride, l.inC, l.outC)
	pads, err := convPads(n, l.k, l.stride)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.summary, err)
	}
	if ks := attrInts(n, "kernel_shape"); len(ks) > 0 && !slices.Equal(ks, []int64{int64(w.dims[2]), int64(w.dims[3])}) {
		return nil, fmt.Errorf("%s has kernel_shape %v for weights of %v", l.summary, ks, w.dims)
	}
	if w.dims[2] != w.dims[3] || attrInt(n, "group", 1) != 1 || !allEqual(attrInts(n, "dilations"), 1) ||
		!allEqual(attrInts(n, "strides"), int64(l.stride)) || !allEqual(pads, int64(l.k/2)) {
		return nil, fmt.Errorf("%s has padding %v, dilations %v, group %d; torchvision's ResNet pads k/2 on every side, no dilation, 1 group",
			l.summary, pads, attrInts(n, "dilations"), attrInt(n, "group", 1))
	}
	if len(ins) > 2 && ins[2] != "" {
		if l.bias, err = r.tensor(ins[2], 1); err != nil {
			return nil, fmt.Errorf("%s: bias: %w", l.summary, err)
		}
		if l.bias.dims[0] != l.outC {
			return nil, fmt.Errorf("%s has a bias of %d values", l.summary, l.bias.dims[0])
		}
	}
	// A following BatchNormalization (files exported without folding).
	if cons := r.consumers[l.out]; len(cons) == 1 && cons[0].GetOpType() == "BatchNormalization" {
		bn := cons[0]
		if len(bn.GetInput()) != 5 {
			return nil, fmt.Errorf("BatchNormalization %q has %d inputs, want 5", bn.GetName(), len(bn.GetInput()))
		}
		// Exported in training mode (training_mode=1 since opset 14, or extra outputs: the updated running
		// statistics and the batch's), the file still holds the running statistics, which are what
		// inference and fine-tuning start from: they are imported, the training-mode outputs ignored.
		// Opset 7's spatial=0 (statistics per value, not per channel) is another function.
		if attrInt(bn, "spatial", 1) != 1 {
			return nil, fmt.Errorf("BatchNormalization %q has spatial=0 (statistics per position); torchvision's batch norms are per channel", bn.GetName())
		}
		p := &bnParams{epsilon: float64(attrFloat(bn, "epsilon", 1e-5))}
		for i, dst := range []**tensorF32{&p.scale, &p.offset, &p.mean, &p.variance} {
			if *dst, err = r.tensor(bn.GetInput()[i+1], 1); err != nil {
				return nil, fmt.Errorf("BatchNormalization %q: %s: %w", bn.GetName(), []string{"scale", "offset", "mean", "variance"}[i], err)
			}
			if (*dst).dims[0] != l.outC {
				return nil, fmt.Errorf("BatchNormalization %q has %d channels after %s", bn.GetName(), (*dst).dims[0], l.summary)
			}
		}
		for _, v := range p.variance.data {
			if v < 0 {
				return nil, fmt.Errorf("BatchNormalization %q has a negative running variance %g", bn.GetName(), v)
			}
		}
		if l.bias != nil { // BN(x + b) normalises with mean − b: torchvision has no bias there, others may
			mean := &tensorF32{dims: p.mean.dims, data: make([]float32, len(p.mean.data))}
			for i := range mean.data {
				mean.data[i] = p.mean.data[i] - l.bias.data[i]
			}
			p.mean, l.bias = mean, nil
		}
		l.bn = p
		l.out = bn.GetOutput()[0]
	} else if l.bias == nil {
		return nil, fmt.Errorf("%s has neither a batch norm nor a bias (a folded batch norm)", l.summary)
	}
	return l, nil
}

// convPads returns a Conv's padding [top, left, bottom, right] (or fewer values: the attribute as written),
// from pads or auto_pad. SAME_UPPER and SAME_LOWER pad k/2 on every side for an odd kernel at stride 1;
// at stride 2 their padding depends on the input's size, which torchvision's does not.
func convPads(n *protos.NodeProto, k, stride int) ([]int64, error) {
	switch ap := attrString(n, "auto_pad"); ap {
	case "", "NOTSET":
		if pads := attrInts(n, "pads"); len(pads) > 0 {
			return pads, nil
		}
		return []int64{0}, nil
	case "VALID":
		if len(attrInts(n, "pads")) > 0 && !allEqual(attrInts(n, "pads"), 0) {
			return nil, fmt.Errorf("auto_pad VALID with pads %v", attrInts(n, "pads"))
		}
		return []int64{0}, nil
	case "SAME_UPPER", "SAME_LOWER":
		if stride != 1 || k%2 != 1 {
			return nil, fmt.Errorf("auto_pad %s at stride %d pads by the input's size; torchvision's ResNet pads k/2 on every side", ap, stride)
		}
		return []int64{int64(k / 2)}, nil
	default:
		return nil, fmt.Errorf("unknown auto_pad %q", ap)
	}
}

// single returns the one node that reads name.
func (r *onnxReader) single(name, what string) (*protos.NodeProto, error) {
	cons := r.consumers[name]
	if len(cons) != 1 {
		return nil, fmt.Errorf("%s goes to %d nodes (%s); a ResNet has exactly one there", what, len(cons), opTypes(cons))
	}
	return cons[0], nil
}

// only returns the one node that reads name, which must be an opType.
func (r *onnxReader) only(name, opType, what string) (*protos.NodeProto, error) {
	n, err := r.single(name, what)
	if err != nil {
		return nil, err
	}
	if n.GetOpType() != opType {
		return nil, fmt.Errorf("%s goes to %s %q%s; a torchvision ResNet has a %s there", what, n.GetOpType(), n.GetName(), r.because(n), opType)
	}
	return n, nil
}

// because is why n was left in the graph, when newReader could have skipped or folded its kind (", which
// pads with 1: …"), else "".
func (r *onnxReader) because(n *protos.NodeProto) string {
	if why := r.why[n]; why != "" {
		return ", which " + why
	}
	return ""
}

// transpose2 transposes a matrix.
func (t *tensorF32) transpose2() *tensorF32 {
	r, c := t.dims[0], t.dims[1]
	out := &tensorF32{dims: []int{c, r}, data: make([]float32, len(t.data))}
	for i := range r {
		for j := range c {
			out.data[j*r+i] = t.data[i*c+j]
		}
	}
	return out
}

// isGlobalPool reports whether n averages over the spatial axes: GlobalAveragePool, or ReduceMean over
// axes 2 and 3 (an attribute before opset 18, a constant input since).
func (r *onnxReader) isGlobalPool(n *protos.NodeProto) bool {
	switch n.GetOpType() {
	case "GlobalAveragePool":
		return true
	case "ReduceMean":
		axes := attrInts(n, "axes")
		if len(n.GetInput()) > 1 && n.GetInput()[1] != "" {
			var err error
			if axes, err = r.ints(n.GetInput()[1]); err != nil {
				return false
			}
		}
		return slices.Equal(axes, []int64{2, 3}) || slices.Equal(axes, []int64{-2, -1})
	}
	return false
}

func opTypes(nodes []*protos.NodeProto) string {
	if len(nodes) == 0 {
		return "none"
	}
	var s []string
	for _, n := range nodes {
		s = append(s, n.GetOpType())
	}
	return strings.Join(s, ", ")
}

func attr(n *protos.NodeProto, name string) *protos.AttributeProto {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

func attrInts(n *protos.NodeProto, name string) []int64 { return attr(n, name).GetInts() }

func attrInt(n *protos.NodeProto, name string, def int64) int64 {
	if a := attr(n, name); a != nil {
		return a.GetI()
	}
	return def
}

func attrFloat(n *protos.NodeProto, name string, def float32) float32 {
	if a := attr(n, name); a != nil {
		return a.GetF()
	}
	return def
}

func attrString(n *protos.NodeProto, name string) string { return string(attr(n, name).GetS()) }

// autoPadNotSet reports whether n's padding is its pads attribute.
func autoPadNotSet(n *protos.NodeProto) bool {
	ap := attrString(n, "auto_pad")
	return ap == "" || ap == "NOTSET"
}

// allEqual reports whether every value is v (true for none: the attribute's default).
func allEqual(vals []int64, v int64) bool {
	for _, x := range vals {
		if x != v {
			return false
		}
	}
	return true
}
