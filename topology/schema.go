package topology

import (
	_ "embed"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
)

//go:embed topology.schema.json
var schemaJSON []byte

// SchemaJSON returns the JSON Schema of topology files that ships with
// labctl. A test keeps it equal to GenerateSchema, so it always matches the
// Go types.
func SchemaJSON() []byte { return append([]byte(nil), schemaJSON...) }

// GenerateSchema derives the JSON Schema (draft 2020-12) from the Go types
// and their struct tags: yaml (key), doc (description), enum, min and max.
func GenerateSchema() []byte {
	return SchemaFor(reflect.TypeOf(Topology{}), "https://labctl.dev/schema/topology.schema.json", "labctl topology",
		"A labctl lab: nodes, the NAT and host-only networks, VLANs, and the address pools Docker uses. Fields left out take the values of `labctl topology default`.")
}

// SchemaFor derives the JSON Schema (draft 2020-12) of a file format from
// its Go type (a struct) and its tags: yaml (key, inline), doc
// (description), enum, min and max.
func SchemaFor(t reflect.Type, id, title, description string) []byte {
	s := schemaOf(t, "", map[reflect.Type]bool{})
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = id
	s["title"] = title
	s["description"] = description
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(out, '\n')
}

var sizeType = reflect.TypeOf(Size(""))

// schemaOf describes t; seen holds the struct types being described, so
// that a type that contains itself (a probe inside a probe) is described
// once and, within itself, as any object.
func schemaOf(t reflect.Type, doc string, seen map[reflect.Type]bool) map[string]any {
	s := map[string]any{}
	if doc != "" {
		s["description"] = doc
	}
	if t == sizeType {
		s["type"] = "string"
		s["pattern"] = `^[0-9]+(\.[0-9]+)? ?(KiB|MiB|GiB|TiB|K|M|G|T|B)$`
		return s
	}
	switch t.Kind() {
	case reflect.Pointer: // optional: null means "none"
		e := schemaOf(t.Elem(), doc, seen)
		e["type"] = []any{e["type"], "null"}
		return e
	case reflect.Struct:
		s["type"] = "object"
		if seen[t] {
			return s
		}
		seen[t] = true
		defer delete(seen, t)
		s["additionalProperties"] = false
		props := map[string]any{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")
			if len(tag) > 1 && tag[1] == "inline" && f.Type.Kind() == reflect.Struct {
				for k, v := range schemaOf(f.Type, "", seen)["properties"].(map[string]any) {
					props[k] = v
				}
				continue
			}
			name := tag[0]
			if !f.IsExported() || name == "-" || name == "" {
				continue
			}
			p := schemaOf(f.Type, f.Tag.Get("doc"), seen)
			if e := f.Tag.Get("enum"); e != "" {
				p["enum"] = strings.Split(e, ",")
			}
			if m := f.Tag.Get("min"); m != "" {
				p["minimum"], _ = strconv.Atoi(m)
			}
			if m := f.Tag.Get("max"); m != "" {
				p["maximum"], _ = strconv.Atoi(m)
			}
			props[name] = p
		}
		s["properties"] = props
	case reflect.Slice:
		s["type"] = "array"
		s["items"] = schemaOf(t.Elem(), "", seen)
	case reflect.Map:
		s["type"] = "object"
		s["additionalProperties"] = schemaOf(t.Elem(), "", seen)
		if k := t.Key().Kind(); k == reflect.Int {
			s["propertyNames"] = map[string]any{"pattern": "^[0-9]+$"}
		}
	case reflect.String:
		s["type"] = "string"
	case reflect.Int:
		s["type"] = "integer"
	case reflect.Bool:
		s["type"] = "boolean"
	default:
		panic("schema: unsupported kind " + t.Kind().String())
	}
	return s
}
