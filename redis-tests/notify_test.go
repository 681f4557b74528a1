package redistests

import (
	"fmt"
	"testing"
)

// Session writes publish keyspace events of their own class, S, so an agent
// can follow what happens to a session (GEN done, FORK, ROLLBACK...).
func TestSessionWritesPublishKeyspaceEvents(t *testing.T) {
	onlyReddwarf(t)
	c := client(t)
	want(t, c, "OK", "CONFIG", "SET", "notify-keyspace-events", "ES")
	defer do(t, c, "CONFIG", "SET", "notify-keyspace-events", "")
	r := dialRaw(t, shared.Addr())
	r.send("PSUBSCRIBE __keyevent@0__:*\r\n")
	r.value()
	do(t, c, "SET", "plain", "x") // a string write: class $, not enabled
	do(t, c, "GEN", "s", "Once upon a time", "MAXTOKENS", 3, "TEMPERATURE", 0)
	do(t, c, "CHECKPOINT", "s", "here")
	do(t, c, "FORK", "s", "s2")
	do(t, c, "ROLLBACK", "s", "TO", "here")
	var got []string
	for i := 0; i < 4; i++ {
		m := r.value().([]any)
		got = append(got, fmt.Sprint(m[2], " ", m[3]))
	}
	w := []string{"__keyevent@0__:gen s", "__keyevent@0__:checkpoint s", "__keyevent@0__:fork s2", "__keyevent@0__:rollback s"}
	if fmt.Sprint(got) != fmt.Sprint(w) {
		t.Errorf("session events:\n got  %v\n want %v", got, w)
	}
}
