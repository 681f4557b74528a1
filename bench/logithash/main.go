// Command logithash prints a sha256 of every logit's bits over 40 greedy
// steps (after a 20-token prompt, 2 threads) for each GGUF named, to check
// that two builds of infer compute the same bits (a refactoring of the
// forward pass must not change one):
//
//	git archive OLD | tar -x -C /tmp/old && cp -r bench/logithash /tmp/old/bench/
//	(cd /tmp/old && go run ./bench/logithash M1.gguf M2.gguf ...) >old.txt
//	go run ./bench/logithash M1.gguf M2.gguf ... >new.txt && diff old.txt new.txt
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"os"

	"reddwarf/infer"
	_ "reddwarf/infer/deepseek4"
)

func main() {
	for _, path := range os.Args[1:] {
		m, err := infer.Open(path, infer.Options{Threads: 2, Ctx: 256})
		if err != nil {
			panic(err)
		}
		h := sha256.New()
		s := m.NewState()
		toks := make([]int32, 20)
		for i := range toks {
			toks[i] = int32(1 + i*7%200)
		}
		for step := 0; step < 40; step++ {
			if err := m.Step([]infer.Seq{{State: s, Tokens: toks}}); err != nil {
				panic(err)
			}
			for _, v := range s.Logits() {
				binary.Write(h, binary.LittleEndian, math.Float32bits(v))
			}
			toks = []int32{infer.Argmax(s.Logits())}
		}
		fmt.Printf("%x %s\n", h.Sum(nil)[:8], path)
		m.Close()
	}
}
