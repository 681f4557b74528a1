package cli

import (
	"fmt"
	"strings"

	"reddwarf/infer"
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
	}
	if opt.CheckpointInterval == 0 {
		opt.CheckpointInterval = -1
	}
	var m *infer.Model
	var err error
	if path := cfg.Get("model"); path != "" {
		m, err = infer.Open(path, opt)
	} else {
		m, err = infer.OpenBytes("stories260K (embedded)", models.Stories260K, opt)
	}
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
