package rest

import "sort"

// CompositeTypes lists the composite types (CREATE TYPE … AS) of one
// schema, sorted by name. The translator reaches them only as function
// results; type generation lists them all.
func (s *Schema) CompositeTypes(schema string) []*Table {
	var out []*Table
	for k, t := range s.tables {
		if k.schema == schema && t.Kind == 'c' {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
