// ONNX Runtime's own per-node times (its profiler, enableProfiling) on an
// ONNX file, to set beside `bench_engine SECS model FILE.h5 NAME B
// profile`: each node's least time over the runs, ms per image, the
// costliest first, then each op type's total and the sum.
// Usage: node zoo_ort_profile.js ORT_DIR FILE.onnx [BATCH [RUNS [THREADS]]]
// (ORT_DIR: the folder npm installed onnxruntime-node into, as zoo.sh's
// out/bench-cache/ort; the session as zoo_ort.js's, ort_session.js). The
// profile file goes to a temporary folder.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const [dir, file, b = '1', runs = '40', threads = '2'] = process.argv.slice(2);
if (!dir || !file) {
    console.error('usage: node zoo_ort_profile.js ORT_DIR FILE.onnx [BATCH [RUNS [THREADS]]]');
    process.exit(2);
}
const ortSession = require('./ort_session.js');
const ort = ortSession.load(dir);

async function main() {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ortprof-'));
    try {
        const s = await ortSession.open(ort, file, threads, {
            enableProfiling: true, profileFilePrefix: path.join(tmp, 'p'),
            // fatal only: with profiling on, a failed load also logs a
            // line of ONNX Runtime's own beside the error said below
            logSeverityLevel: 4,
        });
        const n = +b, feeds = ortSession.randomFeeds(ort, s, n);
        for (let r = 0; r < +runs; r++) await s.run(feeds);
        s.endProfiling();
        const f = fs.readdirSync(tmp).filter((e) => e.endsWith('.json'))[0];
        const ev = JSON.parse(fs.readFileSync(path.join(tmp, f), 'utf8'));
        const least = new Map(), op = new Map();
        let passes = [];
        for (const e of ev) {
            if (e.cat === 'Node' && e.name.endsWith('_kernel_time')) {
                const k = e.name.slice(0, -'_kernel_time'.length);
                least.set(k, Math.min(least.has(k) ? least.get(k) : Infinity, e.dur / 1000 / n));
                op.set(k, (e.args && e.args.op_name) || '');
            } else if (e.cat === 'Session' && e.name === 'model_run')
                passes.push(e.dur / 1000 / n);
        }
        passes = passes.slice(1);   // the first run warms up
        const rows = [...least].sort((p, q) => q[1] - p[1]);
        const sum = rows.reduce((a, r) => a + r[1], 0);
        const mean = passes.reduce((a, v) => a + v, 0) / Math.max(1, passes.length);
        console.log(`# ${path.basename(file)}: batch ${n}, ${runs} runs, ${threads} threads;` +
                    ` nodes' leasts summed ${sum.toFixed(3)} ms/img, whole run mean ${mean.toFixed(3)}`);
        console.log('# least_ms\top\tnode (ONNX Runtime names a fused node by its output)');
        for (const [k, v] of rows) console.log(`${v.toFixed(3)}\t${op.get(k)}\t${k}`);
        const byop = new Map();
        for (const [k, v] of rows) byop.set(op.get(k), (byop.get(op.get(k)) || 0) + v);
        console.log('# per op: least_ms\top');
        for (const [k, v] of [...byop].sort((p, q) => q[1] - p[1])) console.log(`${v.toFixed(3)}\t${k}`);
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}
main().catch((e) => { console.error('zoo_ort_profile.js: ' + e.message); process.exit(1); });
