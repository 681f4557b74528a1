package server

import "testing"

func TestNotifyFlagsCanonicalForm(t *testing.T) {
	cases := map[string]string{"": "", "KEA": "AKE", "Kx": "xK", "E$g": "g$E", "AKEmn": "AKEmn", "KES": "SKE"}
	for in, want := range cases {
		f, err := parseNotifyFlags(in)
		if err != nil || formatNotifyFlags(f) != want {
			t.Errorf("%q → %q, %v; want %q", in, formatNotifyFlags(f), err, want)
		}
	}
	if _, err := parseNotifyFlags("KQ"); err == nil {
		t.Error("an unknown class letter was accepted")
	}
}
