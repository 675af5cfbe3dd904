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
const helperTypes = `type Schemas = Omit<Database, "__InternalSupabase">
type SchemaName = keyof Schemas
type DefaultSchema = Schemas[DEFAULT_SCHEMA]
type RelationsOf<S extends { Tables: unknown; Views: unknown }> = S["Tables"] & S["Views"]

/** The Row of a table or view: Tables<"name"> or Tables<{ schema: "s" }, "name">. */
export type Tables<
  NameOrSchema extends keyof RelationsOf<DefaultSchema> | { schema: SchemaName },
  Name extends NameOrSchema extends { schema: SchemaName }
    ? keyof RelationsOf<Schemas[NameOrSchema["schema"]]>
    : never = never,
> = NameOrSchema extends { schema: SchemaName }
  ? RelationsOf<Schemas[NameOrSchema["schema"]]>[Name] extends { Row: infer Row }
    ? Row
    : never
  : NameOrSchema extends keyof RelationsOf<DefaultSchema>
    ? RelationsOf<DefaultSchema>[NameOrSchema] extends { Row: infer Row }
      ? Row
      : never
    : never

/** What an insert into a table takes. */
export type TablesInsert<
  NameOrSchema extends keyof DefaultSchema["Tables"] | { schema: SchemaName },
  Name extends NameOrSchema extends { schema: SchemaName }
    ? keyof Schemas[NameOrSchema["schema"]]["Tables"]
    : never = never,
> = NameOrSchema extends { schema: SchemaName }
  ? Schemas[NameOrSchema["schema"]]["Tables"][Name] extends { Insert: infer Insert }
    ? Insert
    : never
  : NameOrSchema extends keyof DefaultSchema["Tables"]
    ? DefaultSchema["Tables"][NameOrSchema] extends { Insert: infer Insert }
      ? Insert
      : never
    : never

/** What an update of a table takes. */
export type TablesUpdate<
  NameOrSchema extends keyof DefaultSchema["Tables"] | { schema: SchemaName },
  Name extends NameOrSchema extends { schema: SchemaName }
    ? keyof Schemas[NameOrSchema["schema"]]["Tables"]
    : never = never,
> = NameOrSchema extends { schema: SchemaName }
  ? Schemas[NameOrSchema["schema"]]["Tables"][Name] extends { Update: infer Update }
    ? Update
    : never
  : NameOrSchema extends keyof DefaultSchema["Tables"]
    ? DefaultSchema["Tables"][NameOrSchema] extends { Update: infer Update }
      ? Update
      : never
    : never

/** The labels of an enum. */
export type Enums<
  NameOrSchema extends keyof DefaultSchema["Enums"] | { schema: SchemaName },
  Name extends NameOrSchema extends { schema: SchemaName }
    ? keyof Schemas[NameOrSchema["schema"]]["Enums"]
    : never = never,
> = NameOrSchema extends { schema: SchemaName }
  ? Schemas[NameOrSchema["schema"]]["Enums"][Name]
  : NameOrSchema extends keyof DefaultSchema["Enums"]
    ? DefaultSchema["Enums"][NameOrSchema]
    : never

/** The fields of a composite type. */
export type CompositeTypes<
  NameOrSchema extends keyof DefaultSchema["CompositeTypes"] | { schema: SchemaName },
  Name extends NameOrSchema extends { schema: SchemaName }
    ? keyof Schemas[NameOrSchema["schema"]]["CompositeTypes"]
    : never = never,
> = NameOrSchema extends { schema: SchemaName }
  ? Schemas[NameOrSchema["schema"]]["CompositeTypes"][Name]
  : NameOrSchema extends keyof DefaultSchema["CompositeTypes"]
    ? DefaultSchema["CompositeTypes"][NameOrSchema]
    : never
`
