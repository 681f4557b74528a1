#!/usr/bin/env python3
"""make_tiny.py: a tiny random DeepSeek V4 Flash, its GGUF and reference logits.

Builds a small random configuration of transformers' DeepseekV4ForCausalLM
(float32, CPU) that keeps every structural feature of V4 Flash: sliding-only
layers, CSA (ratio 4, overlapping pooling + lightning indexer) and HCA (ratio
128) layers, 4 hyper-connection streams, hash-routed first layers, biased
top-k routing after, shared expert, grouped output projection, sinks, YaRN on
compressed layers. It then

  * exports the weights as a GGUF with ds4's tensor names, types and metadata
    keys (shapes reversed: GGUF ne0 is the row length), written by the small
    GGUF writer below (no gguf package needed);
  * computes reference logits for several token sequences, both in one pass
    and as a prefill followed by single-token decode steps with the cache, in
    two numerics modes:
      ds4   - transformers patched to do what ds4 does (spec section 10.3):
              FP8 E4M3 round trip (64-blocks, power-of-two scale) of the
              no-rope part of every raw KV row and attention-compressor row,
              Hadamard + FP4 E2M1 round trip (32-blocks) of indexer queries
              and indexer-compressor rows, f16 rounding of every cached row;
      exact - transformers unpatched;
  * writes everything into OUT (default ./out): deepseek4-tiny.gguf,
    dsv4-ref.json (config, sequences, layout of the binary), dsv4-ref.bin
    (float32 little-endian logits and per-layer HC states), run.log.

Weights stored as F16 in ds4's files (embedding, HC projections, router,
compressors, indexer) are rounded to f16 before the reference runs, so the
GGUF holds exactly the reference's weights; the rest is F32.

    OUT=/tmp/out python3 make_tiny.py          # needs torch + transformers >= 5
    python3 make_tiny.py --selftest             # GGUF writer and rounding helpers only
"""
import json
import math
import os
import struct
import sys

# ---------------------------------------------------------------- tiny config

CFG = dict(
    vocab=256, dim=64, layers=6, heads=4, head_dim=256, rope_dim=64,
    q_lora=32, o_groups=2, o_lora=32, experts=8, experts_used=2, shared=1,
    expert_ffn=32, hash_layers=3, window=8, index_heads=16, index_dim=128,
    index_topk=8, hc=4, sinkhorn=20, eps=1e-6, hc_eps=1e-6, rope_base=10000.0,
    compress_rope_base=160000.0, yarn_factor=16.0, yarn_orig_ctx=64,
    yarn_beta_fast=32.0, yarn_beta_slow=1.0, expert_scale=1.5,
    swiglu_limit=1.0, ctx=1024,
)
RATIOS = [0, 0, 4, 128, 4, 128]  # ds4's schedule: 0,0 then 4 on even, 128 on odd
SEED = 1234

# ---------------------------------------------------------------- GGUF writer

GGUF_MAGIC = 0x46554747
T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 = range(13)
G_F32, G_F16, G_I32 = 0, 1, 26


class U32(int):
    pass


class F32(float):
    pass


def _enc_str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _enc_value(v):
    """Returns (gguf value type, encoded bytes) of a metadata value."""
    if isinstance(v, bool):
        return T_BOOL, struct.pack("<B", 1 if v else 0)
    if isinstance(v, U32):
        return T_U32, struct.pack("<I", int(v))
    if isinstance(v, int):
        return T_I32, struct.pack("<i", v)
    if isinstance(v, float):
        return T_F32, struct.pack("<f", v)
    if isinstance(v, str):
        return T_STR, _enc_str(v)
    if isinstance(v, list):
        if not v:
            return T_ARR, struct.pack("<IQ", T_STR, 0)
        et, _ = _enc_value(v[0])
        body = b"".join(_enc_value(x)[1] for x in v)
        return T_ARR, struct.pack("<IQ", et, len(v)) + body
    raise TypeError("metadata value %r" % (v,))


def write_gguf(path, kvs, tensors, align=32):
    """kvs: list of (key, value); tensors: list of (name, ggml type, dims ne0 first, data bytes)."""
    head = struct.pack("<IIQQ", GGUF_MAGIC, 3, len(tensors), len(kvs))
    for k, v in kvs:
        t, b = _enc_value(v)
        head += _enc_str(k) + struct.pack("<I", t) + b
    off = 0
    offsets = []
    for name, typ, dims, data in tensors:
        offsets.append(off)
        head += _enc_str(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        head += struct.pack("<IQ", typ, off)
        off += len(data)
        off = (off + align - 1) // align * align
    pad = (-len(head)) % align
    with open(path, "wb") as f:
        f.write(head + b"\0" * pad)
        pos = 0
        for (name, typ, dims, data), o in zip(tensors, offsets):
            assert pos == o, name
            want = 1
            for d in dims:
                want *= d
            want *= {G_F32: 4, G_F16: 2, G_I32: 4}[typ]
            assert len(data) == want, "%s: %d bytes, want %d" % (name, len(data), want)
            f.write(data)
            pos += len(data)
            p = (-pos) % align
            f.write(b"\0" * p)
            pos += p


def gpt2_byte_tokens():
    """The 256 byte tokens of a GPT-2 byte-level vocabulary, in byte order."""
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    out, n = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + n)
            n += 1
    return [out[b] for b in range(256)]


def metadata(c):
    L = c["layers"]
    a = "deepseek4."
    return [
        ("general.architecture", "deepseek4"),
        ("general.name", "deepseek4-tiny (random, tools/dsv4-ref/make_tiny.py)"),
        ("general.alignment", U32(32)),
        (a + "context_length", U32(c["ctx"])),
        (a + "block_count", U32(L)),
        (a + "embedding_length", U32(c["dim"])),
        (a + "vocab_size", U32(c["vocab"])),
        (a + "attention.head_count", U32(c["heads"])),
        (a + "attention.head_count_kv", U32(1)),
        (a + "attention.key_length", U32(c["head_dim"])),
        (a + "attention.value_length", U32(c["head_dim"])),
        (a + "rope.dimension_count", U32(c["rope_dim"])),
        (a + "attention.q_lora_rank", U32(c["q_lora"])),
        (a + "attention.output_lora_rank", U32(c["o_lora"])),
        (a + "attention.output_group_count", U32(c["o_groups"])),
        (a + "expert_count", U32(c["experts"])),
        (a + "expert_used_count", U32(c["experts_used"])),
        (a + "expert_feed_forward_length", U32(c["expert_ffn"])),
        (a + "expert_shared_count", U32(c["shared"])),
        (a + "hash_layer_count", U32(c["hash_layers"])),
        (a + "attention.sliding_window", U32(c["window"])),
        (a + "attention.indexer.head_count", U32(c["index_heads"])),
        (a + "attention.indexer.key_length", U32(c["index_dim"])),
        (a + "attention.indexer.top_k", U32(c["index_topk"])),
        (a + "hyper_connection.count", U32(c["hc"])),
        (a + "hyper_connection.sinkhorn_iterations", U32(c["sinkhorn"])),
        (a + "attention.compress_ratios", [U32(r) for r in RATIOS]),
        (a + "swiglu_clamp_exp", [F32(c["swiglu_limit"])] * L),
        (a + "rope.scaling.type", "yarn"),
        (a + "rope.scaling.original_context_length", U32(c["yarn_orig_ctx"])),
        (a + "rope.freq_base", F32(c["rope_base"])),
        (a + "rope.scaling.factor", F32(c["yarn_factor"])),
        (a + "rope.scaling.yarn_beta_fast", F32(c["yarn_beta_fast"])),
        (a + "rope.scaling.yarn_beta_slow", F32(c["yarn_beta_slow"])),
        (a + "attention.compress_rope_freq_base", F32(c["compress_rope_base"])),
        (a + "expert_weights_scale", F32(c["expert_scale"])),
        (a + "attention.layer_norm_rms_epsilon", F32(c["eps"])),
        (a + "hyper_connection.epsilon", F32(c["hc_eps"])),
        (a + "expert_weights_norm", True),
        (a + "expert_gating_func", U32(4)),
        ("tokenizer.ggml.model", "gpt2"),
        ("tokenizer.ggml.pre", "deepseek-v3"),
        ("tokenizer.ggml.tokens", gpt2_byte_tokens()[: c["vocab"]]),
        ("tokenizer.ggml.token_type", [1] * c["vocab"]),
        ("tokenizer.ggml.merges", []),
        ("tokenizer.ggml.bos_token_id", U32(0)),
        ("tokenizer.ggml.eos_token_id", U32(1)),
    ]


# ------------------------------------------------ HF name -> ds4 GGUF tensors

def tensor_plan(c):
    """[(gguf name, hf name or special, ggml type, gguf dims)] in file order."""
    D, V, H, hd, E, F = c["dim"], c["vocab"], c["heads"], c["head_dim"], c["experts"], c["expert_ffn"]
    hc, ql, G, ol = c["hc"], c["q_lora"], c["o_groups"], c["o_lora"]
    IH, ID = c["index_heads"], c["index_dim"]
    mix = (2 + hc) * hc
    p = [
        ("token_embd.weight", "model.embed_tokens.weight", G_F16, [D, V]),
        ("output_hc_base.weight", "model.hc_head.hc_base", G_F32, [hc]),
        ("output_hc_fn.weight", "model.hc_head.hc_fn", G_F16, [hc * D, hc]),
        ("output_hc_scale.weight", "model.hc_head.hc_scale", G_F32, [1]),
        ("output_norm.weight", "model.norm.weight", G_F32, [D]),
        ("output.weight", "lm_head.weight", G_F32, [D, V]),
    ]
    for L, r in enumerate(RATIOS):
        b, h = "blk.%d." % L, "model.layers.%d." % L
        coff = 2 if r == 4 else 1
        p += [
            (b + "hc_attn_fn.weight", h + "attn_hc.fn", G_F16, [hc * D, mix]),
            (b + "hc_attn_scale.weight", h + "attn_hc.scale", G_F32, [3]),
            (b + "hc_attn_base.weight", h + "attn_hc.base", G_F32, [mix]),
            (b + "attn_norm.weight", h + "input_layernorm.weight", G_F32, [D]),
            (b + "attn_q_a.weight", h + "self_attn.q_a_proj.weight", G_F32, [D, ql]),
            (b + "attn_q_a_norm.weight", h + "self_attn.q_a_norm.weight", G_F32, [ql]),
            (b + "attn_q_b.weight", h + "self_attn.q_b_proj.weight", G_F32, [ql, H * hd]),
            (b + "attn_kv.weight", h + "self_attn.kv_proj.weight", G_F32, [D, hd]),
            (b + "attn_kv_a_norm.weight", h + "self_attn.kv_norm.weight", G_F32, [hd]),
            (b + "attn_sinks.weight", h + "self_attn.sinks", G_F32, [H]),
            (b + "attn_output_a.weight", h + "self_attn.o_a_proj.weight", G_F32, [H * hd // G, G * ol]),
            (b + "attn_output_b.weight", h + "self_attn.o_b_proj.weight", G_F32, [G * ol, D]),
        ]
        if r:
            cp = h + "self_attn.compressor."
            p += [
                (b + "attn_compressor_ape.weight", cp + "position_bias", G_F16, [coff * hd, r]),
                (b + "attn_compressor_kv.weight", cp + "kv_proj.weight", G_F16, [D, coff * hd]),
                (b + "attn_compressor_gate.weight", cp + "gate_proj.weight", G_F16, [D, coff * hd]),
                (b + "attn_compressor_norm.weight", cp + "kv_norm.weight", G_F32, [hd]),
            ]
        if r == 4:
            ip = h + "self_attn.compressor.indexer."
            p += [
                (b + "indexer.attn_q_b.weight", ip + "q_b_proj.weight", G_F16, [ql, IH * ID]),
                (b + "indexer.proj.weight", ip + "scorer.weights_proj.weight", G_F16, [D, IH]),
                (b + "indexer_compressor_ape.weight", ip + "position_bias", G_F16, [2 * ID, 4]),
                (b + "indexer_compressor_kv.weight", ip + "kv_proj.weight", G_F16, [D, 2 * ID]),
                (b + "indexer_compressor_gate.weight", ip + "gate_proj.weight", G_F16, [D, 2 * ID]),
                (b + "indexer_compressor_norm.weight", ip + "kv_norm.weight", G_F32, [ID]),
            ]
        p += [
            (b + "hc_ffn_fn.weight", h + "ffn_hc.fn", G_F16, [hc * D, mix]),
            (b + "hc_ffn_scale.weight", h + "ffn_hc.scale", G_F32, [3]),
            (b + "hc_ffn_base.weight", h + "ffn_hc.base", G_F32, [mix]),
            (b + "ffn_norm.weight", h + "post_attention_layernorm.weight", G_F32, [D]),
            (b + "ffn_gate_inp.weight", h + "mlp.gate.weight", G_F16, [D, E]),
        ]
        if L >= c["hash_layers"]:
            p.append((b + "exp_probs_b.bias", h + "mlp.gate.e_score_correction_bias", G_F32, [E]))
        else:
            p.append((b + "ffn_gate_tid2eid.weight", h + "mlp.gate.tid2eid", G_I32, [c["experts_used"], V]))
        p += [
            (b + "ffn_gate_exps.weight", ("gate", h + "mlp.experts.gate_up_proj"), G_F32, [D, F, E]),
            (b + "ffn_up_exps.weight", ("up", h + "mlp.experts.gate_up_proj"), G_F32, [D, F, E]),
            (b + "ffn_down_exps.weight", h + "mlp.experts.down_proj", G_F32, [F, D, E]),
            (b + "ffn_gate_shexp.weight", h + "mlp.shared_experts.gate_proj.weight", G_F32, [D, F]),
            (b + "ffn_up_shexp.weight", h + "mlp.shared_experts.up_proj.weight", G_F32, [D, F]),
            (b + "ffn_down_shexp.weight", h + "mlp.shared_experts.down_proj.weight", G_F32, [F, D]),
        ]
    return p


def selftest():
    import tempfile
    c = CFG
    plan = tensor_plan(c)
    names = [n for n, _, _, _ in plan]
    assert len(names) == len(set(names))
    tens = []
    for n, _, t, dims in plan:
        k = 1
        for d in dims:
            k *= d
        tens.append((n, t, dims, b"\0" * (k * {G_F32: 4, G_F16: 2, G_I32: 4}[t])))
    path = os.path.join(tempfile.mkdtemp(), "t.gguf")
    write_gguf(path, metadata(c), tens)
    print("selftest: %d tensors, %d bytes -> %s" % (len(tens), os.path.getsize(path), path))
    return path


# ---------------------------------------------------------------- torch part

def main():
    out = os.environ.get("OUT") or "out"
    os.makedirs(out, exist_ok=True)
    log = open(os.path.join(out, "run.log"), "w")

    def say(*a):
        s = " ".join(str(x) for x in a)
        print(s, flush=True)
        log.write(s + "\n")
        log.flush()

    import torch
    import numpy as np
    import transformers
    from transformers import DeepseekV4Config, DeepseekV4ForCausalLM
    from transformers.cache_utils import DynamicCache
    import transformers.models.deepseek_v4.modeling_deepseek_v4 as mdl

    say("torch", torch.__version__, "transformers", transformers.__version__)
    torch.manual_seed(SEED)
    torch.set_grad_enabled(False)
    torch.set_num_threads(8)
    c = CFG
    layer_types = [{0: "sliding_attention", 4: "compressed_sparse_attention", 128: "heavily_compressed_attention"}[r] for r in RATIOS]
    hf = DeepseekV4Config(
        vocab_size=c["vocab"], hidden_size=c["dim"], moe_intermediate_size=c["expert_ffn"],
        num_hidden_layers=c["layers"], num_attention_heads=c["heads"], num_key_value_heads=1,
        head_dim=c["head_dim"], q_lora_rank=c["q_lora"], num_experts_per_tok=c["experts_used"],
        n_routed_experts=c["experts"], n_shared_experts=c["shared"], scoring_func="sqrtsoftplus",
        norm_topk_prob=True, routed_scaling_factor=c["expert_scale"],
        max_position_embeddings=int(c["yarn_factor"] * c["yarn_orig_ctx"]),
        rope_theta=c["rope_base"], compress_rope_theta=c["compress_rope_base"],
        layer_types=layer_types,
        compress_rates={"compressed_sparse_attention": 4, "heavily_compressed_attention": 128},
        hc_mult=c["hc"], hc_sinkhorn_iters=c["sinkhorn"], hc_eps=c["hc_eps"],
        mlp_layer_types=["hash_moe"] * c["hash_layers"] + ["moe"] * (c["layers"] - c["hash_layers"]),
        swiglu_limit=c["swiglu_limit"], sliding_window=c["window"], o_groups=c["o_groups"],
        o_lora_rank=c["o_lora"], index_n_heads=c["index_heads"], index_head_dim=c["index_dim"],
        index_topk=c["index_topk"], rms_norm_eps=c["eps"], tie_word_embeddings=False,
        partial_rotary_factor=c["rope_dim"] / c["head_dim"],
        rope_parameters={"rope_type": "yarn", "factor": c["yarn_factor"],
                         "original_max_position_embeddings": c["yarn_orig_ctx"],
                         "beta_fast": c["yarn_beta_fast"], "beta_slow": c["yarn_beta_slow"]},
    )
    hf._attn_implementation = "eager"
    model = DeepseekV4ForCausalLM(hf).float().eval()
    say("rope_parameters", hf.rope_parameters, "qk_rope_head_dim", getattr(hf, "qk_rope_head_dim", None))

    # Random weights: N(0, 0.1) everywhere, norm weights 1 + N(0, 0.1), HC
    # scales 0.5..1.5, sinks N(0, 0.5); F16 tensors rounded to f16.
    plan = tensor_plan(c)
    f16_names = set()
    for _, hn, t, _ in plan:
        if t == G_F16:
            f16_names.add(hn[1] if isinstance(hn, tuple) else hn)
    params = dict(model.named_parameters())
    bufs = dict(model.named_buffers())
    for n, p in sorted(params.items()):
        if n.endswith("norm.weight") or n.endswith("layernorm.weight"):
            p.copy_(1 + 0.1 * torch.randn_like(p))
        elif n.endswith(".scale") or n.endswith("hc_scale"):
            p.copy_(0.5 + torch.rand_like(p))
        elif n.endswith("sinks"):
            p.copy_(0.5 * torch.randn_like(p))
        else:
            p.copy_(0.1 * torch.randn_like(p))
        if n in f16_names:
            p.copy_(p.half().float())
    for n, b in bufs.items():
        if n.endswith("e_score_correction_bias"):
            b.copy_(0.1 * torch.randn_like(b))
        elif n.endswith("tid2eid"):
            rows = [torch.randperm(c["experts"])[: c["experts_used"]] for _ in range(c["vocab"])]
            b.copy_(torch.stack(rows).to(b.dtype))
    # lm_head may be tied by name; make sure it is its own random matrix.
    if model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr():
        say("lm_head tied to the embedding; untying")
        model.lm_head.weight = torch.nn.Parameter(0.1 * torch.randn(c["vocab"], c["dim"]))
    params = dict(model.named_parameters())
    allt = dict(params)
    allt.update(dict(model.named_buffers()))
    missing = [hn for _, hn, _, _ in plan if (hn[1] if isinstance(hn, tuple) else hn) not in allt]
    if missing:
        say("MISSING HF TENSORS:", missing)
        say("have:", sorted(allt))
        raise SystemExit(1)

    # RoPE check: the compressed-layer inverse frequencies ds4's formula gives.
    rd, base = c["rope_dim"], c["compress_rope_base"]

    def corr(beta):
        return rd * math.log(c["yarn_orig_ctx"] / (2 * math.pi * beta)) / (2 * math.log(base))
    lo, hi = max(0, math.floor(corr(c["yarn_beta_fast"]))), min(rd - 1, math.ceil(corr(c["yarn_beta_slow"])))
    want = []
    for k in range(rd // 2):
        e = base ** (-2 * k / rd)
        g = 1 - min(1, max(0, (k - lo) / max(0.001, hi - lo)))
        want.append(e / c["yarn_factor"] * (1 - g) + e * g)
    rot = model.model.rotary_emb
    have = getattr(rot, "compress_inv_freq").tolist()
    rope_err = max(abs(a - b) / abs(b) for a, b in zip(have, want))
    say("compress inv_freq rel err vs ds4 formula:", rope_err, "lo/hi", lo, hi,
        "scaling", getattr(rot, "compress_attention_scaling", None))

    # ------------------------------------------------ ds4 numerics patches
    state = {"on": False, "calls": {}}

    def count(k):
        state["calls"][k] = state["calls"].get(k, 0) + 1

    def e4m3_rt(x):
        # 64-blocks over the last dim, power-of-two scale, E4M3FN round to nearest even.
        sh = x.shape
        b = x.reshape(*sh[:-1], sh[-1] // 64, 64).float()
        a = b.abs().amax(-1, keepdim=True).clamp(min=1e-4)
        s = torch.exp2(torch.ceil(torch.log2(a / 448.0)))
        q = (b / s).clamp(-448, 448).to(torch.float8_e4m3fn).float() * s
        return q.reshape(sh)

    grid = torch.tensor([0, 0.5, 1, 1.5, 2, 3, 4, 6])
    mids = torch.tensor([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0])

    def e2m1(v):
        m = v.abs()
        i = torch.searchsorted(mids, m.contiguous())
        at = (i < 7) & (m == mids[i.clamp(max=6)]) & (i % 2 == 1)
        i = torch.where(at, i + 1, i)
        return torch.sign(v) * grid[i]

    hadamards = {}

    def hadamard(n):
        if n not in hadamards:
            h = torch.ones(1, 1)
            while h.shape[0] < n:
                h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
            hadamards[n] = h / math.sqrt(n)
        return hadamards[n]

    def fp4_qat(x):
        sh = x.shape
        y = x.float() @ hadamard(sh[-1]).T
        b = y.reshape(*sh[:-1], sh[-1] // 32, 32)
        a = b.abs().amax(-1, keepdim=True).clamp(min=6 * 2.0 ** -126)
        s = torch.exp2(torch.ceil(torch.log2(a / 6.0)))
        q = e2m1((b / s).clamp(-6, 6)) * s
        return q.reshape(sh)

    nope = c["head_dim"] - c["rope_dim"]

    def kv_row(x):  # FP8 on the no-rope part, f16 round of the whole row
        y = torch.cat([e4m3_rt(x[..., :nope]), x[..., nope:].float()], -1)
        return y.half().float()

    def index_row(x):
        return fp4_qat(x).half().float()

    def patch_ucs(cls):
        orig = cls.__dict__["update_compressor_states"]

        def ucs(self, name, compressed):
            if state["on"] and compressed.shape[1] > 0:
                count("comp_" + name)
                compressed = kv_row(compressed) if name == "compressor" else index_row(compressed)
            return orig(self, name, compressed)
        cls.update_compressor_states = ucs
        say("patched", cls.__name__ + ".update_compressor_states")
    for obj in list(vars(mdl).values()):
        if isinstance(obj, type) and "update_compressor_states" in obj.__dict__:
            patch_ucs(obj)

    def scorer_pre(mod, args):
        if not state["on"]:
            return None
        count("index_q")
        return (fp4_qat(args[0]),) + tuple(args[1:])

    topk_rec = {}
    for L, layer in enumerate(model.model.layers):
        comp = layer.self_attn.compressor
        if comp is not None and hasattr(comp, "indexer"):
            comp.indexer.scorer.register_forward_pre_hook(scorer_pre)

            def rec(mod, args, out, L=L):
                topk_rec.setdefault(L, []).append(out.detach().clone())
            comp.indexer.register_forward_hook(rec)

    def new_cache():
        cache = DynamicCache(config=model.config)
        upd = cache.update

        def update(k, v, layer_idx, *a, **kw):
            if state["on"]:
                count("raw")
                k = kv_row(k)
                v = k
            return upd(k, v, layer_idx, *a, **kw)
        cache.update = update
        return cache

    if "--probe" in sys.argv:
        probe(out, say, torch, np, e4m3_rt, fp4_qat, kv_row, new_cache, model, c)
        return

    # ------------------------------------------------ sequences and runs
    g = torch.Generator().manual_seed(SEED + 1)
    seqs = [
        dict(tokens=torch.randint(0, c["vocab"], (300,), generator=g).tolist(), prefill=37),
        dict(tokens=torch.randint(0, c["vocab"], (333,), generator=g).tolist(), prefill=130),
        dict(tokens=torch.randint(0, c["vocab"], (260,), generator=g).tolist(), prefill=1),
    ]
    blobs = []
    index = {"config": c, "ratios": RATIOS, "seed": SEED, "torch": torch.__version__,
             "transformers": transformers.__version__, "rope_inv_freq_rel_err": rope_err,
             "sequences": [], "arrays": []}
    offset = [0]

    def put(name, arr):
        a = np.ascontiguousarray(arr.detach().float().numpy().astype("<f4"))
        index["arrays"].append({"name": name, "shape": list(a.shape), "offset": offset[0]})
        blobs.append(a.tobytes())
        offset[0] += a.nbytes

    def one_pass(ids, want_hidden):
        cache = new_cache()
        r = model(input_ids=torch.tensor([ids]), past_key_values=cache, use_cache=True,
                  output_hidden_states=want_hidden)
        return r

    def stepwise(ids, n_pre):
        cache = new_cache()
        outs = []
        r = model(input_ids=torch.tensor([ids[:n_pre]]), past_key_values=cache, use_cache=True,
                  position_ids=torch.arange(n_pre)[None])
        outs.append(r.logits[0])
        for p in range(n_pre, len(ids)):
            r = model(input_ids=torch.tensor([[ids[p]]]), past_key_values=cache, use_cache=True,
                      position_ids=torch.tensor([[p]]))
            outs.append(r.logits[0])
        return torch.cat(outs, 0)

    for mode in ("ds4", "exact"):
        state["on"] = mode == "ds4"
        state["calls"] = {}
        for si, s in enumerate(seqs):
            ids = s["tokens"]
            topk_rec.clear()
            r = one_pass(ids, want_hidden=(si == 0))
            put("%s/seq%d/onepass" % (mode, si), r.logits[0])
            if si == 0:
                hs = r.hidden_states
                say(mode, "hidden_states entries:", None if hs is None else len(hs))
                if hs is not None:
                    for i, h in enumerate(hs):
                        put("%s/seq0/hidden%d" % (mode, i), h[0])
                for L, lst in sorted(topk_rec.items()):
                    put("%s/seq0/topk%d" % (mode, L), lst[0][0].float())
            st = stepwise(ids, s["prefill"])
            put("%s/seq%d/stepwise" % (mode, si), st)
            d = (st - r.logits[0]).abs().max().item()
            say(mode, "seq", si, "len", len(ids), "prefill", s["prefill"], "onepass vs stepwise max|d|", d,
                "logit absmax", r.logits.abs().max().item())
        say(mode, "patch calls", state["calls"])
    index["sequences"] = seqs

    # ds4 vs exact distance, for the record
    # ------------------------------------------------ GGUF
    tens = []
    for gn, hn, t, dims in plan:
        if isinstance(hn, tuple):
            which, name = hn
            w = allt[name]  # [E, 2F, D]
            F = c["expert_ffn"]
            w = w[:, :F] if which == "gate" else w[:, F:]
        else:
            w = allt[hn]
        w = w.detach()
        n = 1
        for dd in dims:
            n *= dd
        if t == G_I32:
            data = np.ascontiguousarray(w.to(torch.int32).numpy().astype("<i4")).tobytes()
        elif t == G_F16:
            data = np.ascontiguousarray(w.float().numpy().astype("<f2")).tobytes()
        else:
            data = np.ascontiguousarray(w.float().numpy().astype("<f4")).tobytes()
        assert w.numel() == n, (gn, tuple(w.shape), dims)
        tens.append((gn, t, dims, data))
    gpath = os.path.join(out, "deepseek4-tiny.gguf")
    write_gguf(gpath, metadata(c), tens)
    say("wrote", gpath, os.path.getsize(gpath), "bytes,", len(tens), "tensors")

    with open(os.path.join(out, "dsv4-ref.bin"), "wb") as f:
        for b in blobs:
            f.write(b)
    with open(os.path.join(out, "dsv4-ref.json"), "w") as f:
        json.dump(index, f)
    say("wrote refs:", offset[0], "bytes,", len(index["arrays"]), "arrays")
    try:
        import inspect
        with open(os.path.join(out, "modeling_deepseek_v4.py"), "w") as f:
            f.write(inspect.getsource(mdl))
    except Exception as e:  # the source is only for the record
        say("no source:", e)


def probe(out, say, torch, np, e4m3_rt, fp4_qat, kv_row, new_cache, model, c):
    """--probe: the reference's rounding helpers on fixed test vectors, and
    the raw K=V rows (before and after the ds4 round trips) of the first
    tokens of sequence 1, for infer's numerics tests (probe.json/.bin)."""
    g = torch.Generator().manual_seed(99)
    n = 256
    scale = torch.pow(10.0, torch.rand(n, 1, generator=g) * 9 - 6)
    x8 = torch.randn(n, 192, generator=g) * scale
    x8[0] = 0
    x8[1, :64] = 1e-30
    x8[2] = torch.arange(192) * 0.5 - 40  # many values on E4M3 midpoints
    x4 = torch.randn(n, 128, generator=g) * scale
    x4[0] = 0
    x4[1] = torch.arange(128) * 0.25 - 16
    blobs, index = [], {"arrays": []}
    off = [0]

    def put(name, a):
        a = np.ascontiguousarray(a.detach().float().numpy().astype("<f4"))
        index["arrays"].append({"name": name, "shape": list(a.shape), "offset": off[0]})
        blobs.append(a.tobytes())
        off[0] += a.nbytes
    put("fp8/in", x8)
    put("fp8/out", e4m3_rt(x8))
    put("fp4/in", x4)
    put("fp4/out", fp4_qat(x4))
    put("f16/in", x8)
    put("f16/out", x8.half().float())
    # Raw rows of the first 3 tokens of sequence 1, every layer.
    gseq = torch.Generator().manual_seed(SEED + 1)
    torch.randint(0, c["vocab"], (300,), generator=gseq)
    toks = torch.randint(0, c["vocab"], (333,), generator=gseq).tolist()[:3]
    index["tokens"] = toks
    rec = []
    cache = new_cache()
    upd = cache.update

    def update(k, v, layer_idx, *a, **kw):
        rec.append((layer_idx, k.detach().clone(), kv_row(k)))
        return upd(kv_row(k), kv_row(k), layer_idx, *a, **kw)
    cache.update = update
    r = model(input_ids=torch.tensor([toks]), past_key_values=cache, use_cache=True)
    for L, pre, post in rec:
        put("rows/pre%d" % L, pre[0, 0])
        put("rows/post%d" % L, post[0, 0])
    put("rows/logits", r.logits[0])
    with open(os.path.join(out, "probe.bin"), "wb") as f:
        for b in blobs:
            f.write(b)
    with open(os.path.join(out, "probe.json"), "w") as f:
        json.dump(index, f)
    say("probe: wrote", off[0], "bytes,", len(index["arrays"]), "arrays")


if __name__ == "__main__":
    if "--selftest" in sys.argv:
        selftest()
    else:
        main()
