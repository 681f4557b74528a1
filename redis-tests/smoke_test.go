package redistests

import "testing"

func TestTheServerAnswersPing(t *testing.T) {
	c := client(t)
	want(t, c, "PONG", "PING")
}
