package cli

import (
	"strings"
	"testing"

	"reddwarf/infer"
	"reddwarf/metalkit/cuda"
	"reddwarf/models"
)

// TestOpenOnDevice: `device cpu` and `device auto` serve on the CPU where
// no GPU is usable, `device cpu-seam` on the CPU through the Device ops,
// and `device cuda` without a usable GPU is an error that says so, which
// makes the server refuse to start.
func TestOpenOnDevice(t *testing.T) {
	open := func(opt infer.Options) (*infer.Model, error) {
		return infer.OpenBytes("stories", models.Stories260K, opt)
	}
	var logs []string
	logf := func(level, format string, args ...any) { logs = append(logs, format) }
	for _, dev := range []string{"cpu", "auto"} {
		m, err := openOnDevice(dev, infer.Options{Threads: 1}, open, logf)
		if err != nil {
			t.Fatalf("device %s: %v", dev, err)
		}
		if got := m.Device().Name(); got != "cpu" {
			t.Errorf("device %s: serves on %q, want cpu", dev, got)
		}
		m.Close()
	}
	m, err := openOnDevice("cpu-seam", infer.Options{Threads: 1}, open, logf)
	if err != nil {
		t.Fatalf("device cpu-seam: %v", err)
	}
	if got := m.Device().Name(); got != "cpu (seam)" {
		t.Errorf("device cpu-seam: serves on %q, want cpu (seam)", got)
	}
	m.Close()
	gpu, gpuErr := cuda.Open(0)
	if gpuErr == nil {
		gpu.Close()
		t.Skip("a GPU is usable here: the refusal without one cannot be checked")
	}
	_, err = openOnDevice("cuda", infer.Options{Threads: 1}, open, logf)
	if err == nil || !strings.Contains(err.Error(), "device cuda: no usable NVIDIA GPU") {
		t.Fatalf("device cuda without a GPU: err %v", err)
	}
	t.Log(err)
}
