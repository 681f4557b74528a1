package redistests

import (
	"encoding/json"
	"fmt"
	"testing"
)

// TestGenJSONAndSchema: GEN … JSON and … SCHEMA over RESP on stories260K
// (which knows nothing of JSON): for many seeds the reply parses, and
// validates against the schema, streamed or not; option mistakes get
// clear errors.
func TestGenJSONAndSchema(t *testing.T) {
	onlyReddwarf(t)
	s := startServer(t)
	c := ownClient(t, s, 2)
	schema := `{"type":"object","properties":{"who":{"type":"string"},"n":{"type":"integer"},"mood":{"enum":["glad","sad"]}},"required":["who","n"],"additionalProperties":false}`
	for seed := range 10 {
		text := str(t, c, "GEN", fmt.Sprint("j", seed), "Once upon a time", "JSON", "MAXTOKENS", 30, "SEED", seed, "TEMPERATURE", 1.5)
		if !json.Valid([]byte(text)) {
			t.Fatalf("JSON seed %d: %q", seed, text)
		}
		text = str(t, c, "GEN", fmt.Sprint("s", seed), "Once upon a time", "SCHEMA", schema, "MAXTOKENS", 40, "SEED", seed, "TEMPERATURE", 1.5)
		var v struct {
			Who  *string
			N    *int64
			Mood *string
		}
		if err := json.Unmarshal([]byte(text), &v); err != nil || v.Who == nil || v.N == nil || (v.Mood != nil && *v.Mood != "glad" && *v.Mood != "sad") {
			t.Fatalf("SCHEMA seed %d: %q (%v)", seed, text, err)
		}
	}
	wantErrPrefix(t, c, "ERR SCHEMA: schema: keyword \"pattern\" is not supported", "GEN", "e", "x", "SCHEMA", `{"type":"string","pattern":"a"}`)
	wantErrPrefix(t, c, "ERR SCHEMA: schema is not JSON", "GEN", "e", "x", "SCHEMA", `{"type":`)
	wantErr(t, c, "ERR syntax error: GEN option SCHEMA needs a value", "GEN", "e", "x", "SCHEMA")
	wantErr(t, c, "ERR syntax error: GEN takes one of JSON and SCHEMA, once", "GEN", "e", "x", "JSON", "SCHEMA", "{}")
}
