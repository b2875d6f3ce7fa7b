package main

import (
	"errors"
	"flag"
	"reflect"
	"sort"
	"strings"

	"github.com/gonbgpu/gonbgpu/gpu"

	"github.com/gonbgpu/gonbgpu/vision/recipe"
)

// optionFlags maps the fields of opts (a pointer to a struct whose fields fs's flags were bound to, as
// trainFlags binds recipe.Options) to their flags: "Options.Batch" → "--batch". It reads which field each
// flag writes, so it stays right as flags are added; of two flags bound to one field (--devices and its
// older alias --gpus) the one that is no alias wins.
func optionFlags(fs *flag.FlagSet, opts any) *strings.Replacer {
	v := reflect.ValueOf(opts).Elem()
	typeName := v.Type().Name()
	byAddr := map[uintptr]string{}
	for i := 0; i < v.NumField(); i++ {
		byAddr[v.Field(i).Addr().Pointer()] = typeName + "." + v.Type().Field(i).Name
	}
	names := map[string]string{}
	alias := map[string]bool{} // names[field] is an older alias ("the same as --devices")
	fs.VisitAll(func(f *flag.Flag) {
		p := reflect.ValueOf(f.Value)
		if p.Kind() != reflect.Pointer {
			return
		}
		field, ok := byAddr[p.Pointer()]
		if !ok {
			return
		}
		isAlias := strings.HasPrefix(f.Usage, "the same as")
		if _, seen := names[field]; !seen || alias[field] && !isAlias {
			names[field], alias[field] = "--"+f.Name, isAlias
		}
	})
	order := make([]string, 0, len(names))
	for field := range names {
		order = append(order, field)
	}
	// Longer names first: Options.PretrainedSize before Options.Pretrained.
	sort.Slice(order, func(i, j int) bool {
		return len(order[i]) > len(order[j]) || len(order[i]) == len(order[j]) && order[i] < order[j]
	})
	var pairs []string
	for _, field := range order {
		pairs = append(pairs, field, names[field])
	}
	return strings.NewReplacer(pairs...)
}

// flagError is a library error shown with the command line's flags in place of the option fields it names.
type flagError struct {
	msg string
	err error
}

func (e *flagError) Error() string { return e.msg }
func (e *flagError) Unwrap() error { return e.err }

// withFlags rewrites the option fields an error of vision/recipe or vision/trainer names (recipe.Options'
// fields, and the trainer.Config fields recipe sets from them) as train's flags.
func withFlags(err error, flags *strings.Replacer) error {
	if err == nil {
		return nil
	}
	msg := flags.Replace(recipe.InOptions(err.Error()))
	if msg == err.Error() {
		return err
	}
	return &flagError{msg, err}
}

// withRequireGPUFlag rewrites the option a [gpu.RequiredGPUError] names (gpu.Options.RequireGPU) to the
// flag that set it here, --require-gpu: the user of a command typed the flag, not the field.
func withRequireGPUFlag(err error) error {
	var req *gpu.RequiredGPUError
	if !errors.As(err, &req) {
		return err
	}
	return &flagError{strings.ReplaceAll(err.Error(), gpu.RequireGPUOption, "--require-gpu"), err}
}
