package httpapi

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// GET /metrics: every numeric INFO field (all sections, the inference and
// model ones included) in Prometheus text format, named
// reddwarf_<section>_<field>. Fields of the form name:k=v,... (keyspace,
// commandstats, errorstats) become one family per k labelled by name.
func (a *API) metrics(w http.ResponseWriter, r *http.Request) {
	var info string
	if !a.onLoop(r.Context(), func() { info = a.s.Info([]string{"everything"}) }) {
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write([]byte(promText(info)))
}

// promText converts INFO text. Lines of one family are kept together, as
// the format requires.
func promText(info string) string {
	fams := map[string][]string{}
	section := ""
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimRight(line, "\r")
		if s, ok := strings.CutPrefix(line, "# "); ok {
			section = metricName(strings.ToLower(s))
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || section == "" {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			name := "reddwarf_" + section + "_" + metricName(k)
			fams[name] = append(fams[name], name+" "+strconv.FormatFloat(f, 'g', -1, 64))
			continue
		}
		if !strings.Contains(v, "=") {
			continue
		}
		label, lv := "name", k
		switch section {
		case "keyspace":
			label, lv = "db", strings.TrimPrefix(k, "db")
		case "commandstats":
			label, lv = "cmd", strings.TrimPrefix(k, "cmdstat_")
		case "errorstats":
			label, lv = "error", strings.TrimPrefix(k, "errorstat_")
		}
		for _, kv := range strings.Split(v, ",") {
			fk, fv, ok := strings.Cut(kv, "=")
			f, err := strconv.ParseFloat(fv, 64)
			if !ok || err != nil {
				continue
			}
			name := "reddwarf_" + section + "_" + metricName(fk)
			fams[name] = append(fams[name], name+"{"+label+"="+strconv.Quote(lv)+"} "+strconv.FormatFloat(f, 'g', -1, 64))
		}
	}
	names := make([]string, 0, len(fams))
	for n := range fams {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString("# TYPE " + n + " untyped\n")
		for _, l := range fams[n] {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// metricName keeps [a-zA-Z0-9_] and turns anything else into '_'.
func metricName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}
