package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/vision/recipe"
)

// TestTrainFlagsDefaultToTheRecipes: with no flag given, `gonbgpu train` hands the recipe exactly the
// recipe's own defaults (recipe.Defaults), and the help of the backend- and optimizer-dependent ones says
// what the recipe then takes.
func TestTrainFlagsDefaultToTheRecipes(t *testing.T) {
	var o recipe.Options
	fs, _ := trainFlags(&o)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if want := recipe.Defaults(); !reflect.DeepEqual(o, want) {
		t.Fatalf("flags without values give\n%+v\nthe recipe's defaults are\n%+v", o, want)
	}
	for flag, help := range map[string]string{"lr": recipe.DefaultsHelp("lr"), "momentum": recipe.DefaultsHelp("momentum"),
		"weight-decay": recipe.DefaultsHelp("weight-decay"), "model": "resnet18 on a GPU, resnet20 on the CPU"} {
		if f := fs.Lookup(flag); f == nil || f.DefValue != map[bool]string{true: "", false: "0"}[flag == "model"] || !strings.Contains(f.Usage, help) {
			t.Errorf("--%s: default %q, help %q; want a zero default and help with %q", flag, f.DefValue, f.Usage, help)
		}
	}
}
