// Renders the real chat templates in session/chattmpl/testdata (copied from
// the llama.cpp source node-llama-cpp ships, models/templates/) for a fixed
// set of conversations, with @huggingface/jinja: the Jinja engine
// node-llama-cpp renders a GGUF's tokenizer.chat_template with
// (JinjaTemplateChatWrapper). The outputs are the expected renderings
// session/chattmpl's tests compare against, byte for byte.
//
//   node chat-templates.mjs [dir]
import fs from "node:fs";
import path from "node:path";
import {Template} from "@huggingface/jinja";

const dir = process.argv[2] ?? new URL("../../session/chattmpl/testdata", import.meta.url).pathname;

// Each case: messages (with tool_calls and tool results), tools,
// add_generation_prompt. JSON objects are written with their keys sorted,
// as Go's tojson writes a decoded object's. Kept in cases.json so the Go
// test renders the very same inputs.
const cases = JSON.parse(fs.readFileSync(path.join(dir, "cases.json"), "utf8"));
const out = {};
for (const file of fs.readdirSync(dir).filter(f => f.endsWith(".jinja")).sort()) {
    const tmpl = new Template(fs.readFileSync(path.join(dir, file), "utf8"));
    out[file] = {};
    for (const [name, c] of Object.entries(cases)) {
        try {
            const vars = {
                messages: c.messages, add_generation_prompt: c.add_generation_prompt,
                bos_token: c.bos_token, eos_token: c.eos_token, date_string: c.date_string,
            };
            if (c.tools) vars.tools = c.tools; // "tools is defined" must stay false without them
            out[file][name] = tmpl.render(vars);
        } catch (e) {
            out[file][name] = {error: String(e.message ?? e)};
        }
    }
}
fs.writeFileSync(path.join(dir, "expected.json"), JSON.stringify(out, null, 1) + "\n");
