package cli

import (
	"errors"
	"fmt"
	"runtime"
	"strings"

	"reddwarf/infer"
	"reddwarf/metalkit"
	"reddwarf/metalkit/cuda"
	"reddwarf/models"
	"reddwarf/server"
	"reddwarf/session"
)

// LoadModel opens the model the `model` directive names (empty: the
// embedded stories260K), logs what it is, and makes the inference engine
// serving it in s's keyspace.
func LoadModel(s *server.Server) (*session.Engine, error) {
	cfg := s.Config
	opt := infer.Options{
		Threads: int(cfg.Int("threads")),
		Ctx:     int(cfg.Int("ctx")),
		KVType:  cfg.Get("kv-cache-type"),
		// deepseek4's FP8/FP4 round trips (other architectures ignore it).
		Numerics: cfg.Get("dsv4-numerics"),
		// deepseek4's automatic restore points (0 in the config: none).
		CheckpointInterval: int(cfg.Int("checkpoint-interval")),
		// A GPU's KV pool (0: the default size).
		DeviceKVBytes: cfg.Int("device-kv-memory"),
	}
	if opt.CheckpointInterval == 0 {
		opt.CheckpointInterval = -1
	}
	open := func(opt infer.Options) (*infer.Model, error) {
		if path := cfg.Get("model"); path != "" {
			return infer.Open(path, opt)
		}
		return infer.OpenBytes("stories260K (embedded)", models.Stories260K, opt)
	}
	m, err := openOnDevice(cfg.Get("device"), opt, open, s.Logf)
	if err != nil {
		return nil, fmt.Errorf("loading model: %w", err)
	}
	e, err := session.NewEngine(s, s.Config, m)
	if err != nil {
		return nil, fmt.Errorf("loading model: %w", err)
	}
	var parts []string
	for _, f := range m.Info() {
		parts = append(parts, fmt.Sprintf("%s=%v", f.Key, f.Value))
	}
	s.Logf("notice", "Model: %s, threads=%d, kv-cache-type=%s", strings.Join(parts, ", "), m.Threads(), cfg.Get("kv-cache-type"))
	return e, nil
}

// openOnDevice opens the model on the device the `device` directive names:
// cpu; cuda (the first NVIDIA GPU; no usable one, or a model that cannot
// run there, is an error, so the server refuses to start); auto, the GPU
// when one is usable and the model runs there, else the CPU; or cpu-seam,
// for tests: the CPU device seen only through the metalkit.Device ops
// (metalkit.DeviceOnly), so that the server runs the forward and the KV
// pool a GPU runs where there is none. Model.Info says which device serves
// (INFO model, MODEL).
func openOnDevice(device string, opt infer.Options, open func(infer.Options) (*infer.Model, error),
	logf func(level, format string, args ...any)) (*infer.Model, error) {
	switch device {
	case "cpu":
		return open(opt)
	case "cpu-seam":
		threads := opt.Threads
		if threads <= 0 {
			threads = runtime.NumCPU()
		}
		// The pool lives as long as the server: the Model does not close
		// a device it was given.
		pool := metalkit.NewPool(threads)
		opt.Device = metalkit.DeviceOnly(metalkit.NewCPUDevice(pool))
		m, err := open(opt)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("device cpu-seam: %w", err)
		}
		return m, nil
	}
	gpu, err := cuda.Open(0)
	if err != nil {
		if device == "cuda" {
			return nil, fmt.Errorf("device cuda: no usable NVIDIA GPU: %w", err)
		}
		return open(opt)
	}
	gopt := opt
	gopt.Device = gpu
	m, err := open(gopt)
	if err == nil {
		return m, nil
	}
	name := gpu.Name()
	gpu.Close()
	if device == "cuda" || !errors.Is(err, infer.ErrDevice) {
		return nil, fmt.Errorf("device cuda: %w", err)
	}
	logf("notice", "device auto: %s found, but %v; serving on the CPU", name, err)
	return open(opt)
}
