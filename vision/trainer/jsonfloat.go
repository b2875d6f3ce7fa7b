package trainer

import (
	"encoding/json"
	"math"
	"reflect"
	"sync"
)

// JSON has no NaN nor infinities, and encoding/json refuses to write them ("json: unsupported value:
// NaN"); yet they are exactly what a diverging run's figures hold, and the history of such a run is the
// one most worth keeping. History figures are written through a twin of their struct in which every
// float64 field is a jsonFloat: null for NaN and ±Inf, read back as NaN.

// jsonFloat is a float64 that is written as null when it is not finite, and read from null as NaN.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(v)
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = jsonFloat(math.NaN())
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = jsonFloat(v)
	return nil
}

var twins sync.Map // reflect.Type → its twin

// nullableTwin returns a struct type with t's fields, names and tags, float64 fields made jsonFloat.
// t must have only exported fields.
func nullableTwin(t reflect.Type) reflect.Type {
	if tw, ok := twins.Load(t); ok {
		return tw.(reflect.Type)
	}
	fields := make([]reflect.StructField, t.NumField())
	for i := range fields {
		f := t.Field(i)
		fields[i] = reflect.StructField{Name: f.Name, Type: f.Type, Tag: f.Tag}
		if f.Type.Kind() == reflect.Float64 {
			fields[i].Type = reflect.TypeFor[jsonFloat]()
		}
	}
	tw := reflect.StructOf(fields)
	twins.Store(t, tw)
	return tw
}

// marshalNullable marshals the struct v as encoding/json would, with non-finite floats as null.
func marshalNullable(v any) ([]byte, error) {
	rv := reflect.ValueOf(v)
	tw := reflect.New(nullableTwin(rv.Type())).Elem()
	for i := range rv.NumField() {
		if f := rv.Field(i); f.Kind() == reflect.Float64 {
			tw.Field(i).SetFloat(f.Float())
		} else {
			tw.Field(i).Set(f)
		}
	}
	return json.Marshal(tw.Interface())
}

// unmarshalNullable reads into the struct ptr points to what marshalNullable wrote (null floats: NaN).
func unmarshalNullable(data []byte, ptr any) error {
	rv := reflect.ValueOf(ptr).Elem()
	tw := reflect.New(nullableTwin(rv.Type()))
	if err := json.Unmarshal(data, tw.Interface()); err != nil {
		return err
	}
	tw = tw.Elem()
	for i := range rv.NumField() {
		if f := rv.Field(i); f.Kind() == reflect.Float64 {
			f.SetFloat(tw.Field(i).Float())
		} else {
			f.Set(tw.Field(i))
		}
	}
	return nil
}

func (e Epoch) MarshalJSON() ([]byte, error)       { return marshalNullable(e) }
func (e *Epoch) UnmarshalJSON(b []byte) error      { return unmarshalNullable(b, e) }
func (s StepRecord) MarshalJSON() ([]byte, error)  { return marshalNullable(s) }
func (s *StepRecord) UnmarshalJSON(b []byte) error { return unmarshalNullable(b, s) }
func (d Divergence) MarshalJSON() ([]byte, error)  { return marshalNullable(d) }
func (d *Divergence) UnmarshalJSON(b []byte) error { return unmarshalNullable(b, d) }
func (s Selection) MarshalJSON() ([]byte, error)   { return marshalNullable(s) }
func (s *Selection) UnmarshalJSON(b []byte) error  { return unmarshalNullable(b, s) }
