package typegen

import "strings"

// helpers writes the shorthand types that pick one relation's Row,
// Insert or Update, an enum or a composite type, by name in the default
// schema (public when generated, else the first) or by { schema } and
// name; and Constants, the enum labels as values.
func (r *renderer) helpers() {
	def := "public"
	if !r.generated(def) && len(r.s.Schemas) > 0 {
		def = r.schemas()[0]
	}
	src := strings.ReplaceAll(helperTypes, "DEFAULT_SCHEMA", quote(def))
	r.b.WriteString(src)
	r.line(0, "")
	r.line(0, "export const Constants = {")
	for _, schema := range r.schemas() {
		r.line(1, key(schema)+": {")
		r.line(2, "Enums: {")
		for _, e := range r.schemaEnums(schema) {
			r.line(3, key(e.Name)+": "+quoteList(e.Labels)+",")
		}
		r.line(2, "},")
		r.line(1, "},")
	}
	r.line(0, "} as const")
}

// helperTypes are the generic helpers; DEFAULT_SCHEMA is replaced by the
// default schema's name.
var helperTypes = `type Schemas = Omit<Database, "__InternalSupabase">
type SchemaName = keyof Schemas
type DefaultSchema = Schemas[DEFAULT_SCHEMA]
type RelationsOf<S extends { Tables: unknown; Views: unknown }> = S["Tables"] & S["Views"]
` +
	pickType("The Row of a table or view: Tables<\"name\"> or Tables<{ schema: \"s\" }, \"name\">.", "Tables",
		func(s string) string { return "RelationsOf<" + s + ">" }, "Row") +
	pickType("What an insert into a table takes.", "TablesInsert", member("Tables"), "Insert") +
	pickType("What an update of a table takes.", "TablesUpdate", member("Tables"), "Update") +
	pickType("The labels of an enum.", "Enums", member("Enums"), "") +
	pickType("The fields of a composite type.", "CompositeTypes", member("CompositeTypes"), "")

// member is the set called set of a schema type.
func member(set string) func(schema string) string {
	return func(s string) string { return s + "[" + quote(set) + "]" }
}

// pickType is a generic helper called name that takes a name in the
// default schema, or { schema } and a name, and is what of(schema) holds
// under that name, or that entry's field when field is not empty.
func pickType(doc, name string, of func(schema string) string, field string) string {
	def, chosen := of("DefaultSchema"), of(`Schemas[NameOrSchema["schema"]]`)
	var b strings.Builder
	b.WriteString("\n/** " + doc + " */\n")
	b.WriteString("export type " + name + "<\n")
	b.WriteString("  NameOrSchema extends keyof " + def + " | { schema: SchemaName },\n")
	b.WriteString("  Name extends NameOrSchema extends { schema: SchemaName }\n")
	b.WriteString("    ? keyof " + chosen + "\n")
	b.WriteString("    : never = never,\n")
	b.WriteString("> = NameOrSchema extends { schema: SchemaName }\n")
	if field == "" {
		b.WriteString("  ? " + chosen + "[Name]\n")
		b.WriteString("  : NameOrSchema extends keyof " + def + "\n")
		b.WriteString("    ? " + def + "[NameOrSchema]\n")
		b.WriteString("    : never\n")
		return b.String()
	}
	pick := " extends { " + field + ": infer " + field + " }\n"
	b.WriteString("  ? " + chosen + "[Name]" + pick)
	b.WriteString("    ? " + field + "\n")
	b.WriteString("    : never\n")
	b.WriteString("  : NameOrSchema extends keyof " + def + "\n")
	b.WriteString("    ? " + def + "[NameOrSchema]" + pick)
	b.WriteString("      ? " + field + "\n")
	b.WriteString("      : never\n")
	b.WriteString("    : never\n")
	return b.String()
}
