// make bench (zoo): ONNX Runtime (npm onnxruntime-node, CPU) on an ONNX
// file: InferenceSession.run images/s at each batch, intraOpNumThreads as
// cnntools' thread count, repeated for about SECS after one warm-up run.
// Usage: node zoo_ort.js ORT_DIR SECS THREADS FILE.onnx NAME BATCHES
// (ORT_DIR: the folder npm installed onnxruntime-node into; BATCHES "1,4").
// Prints "NAME_bN_img_per_s<TAB>value" lines, the keys bench_engine prints.
// With "lockstep GO DONE" after BATCHES (one batch size): bench_engine's
// lockstep peer (lockstep.js), printing NAME_bN_lockstep_ms, the median
// timed pass's milliseconds per image, and NAME_bN_lockstep_passes.
'use strict';
const [dir, secs, threads, file, name, batches, mode, go, done] = process.argv.slice(2);
const ortSession = require('./ort_session.js');
const ort = ortSession.load(dir);

async function main() {
    const s = await ortSession.open(ort, file, threads);
    if (mode === 'lockstep') {
        const b = +batches, feeds = ortSession.randomFeeds(ort, s, b);
        const { peer, median } = require('./lockstep.js');
        const t = await peer(go, done, async () => { await s.run(feeds); await s.run(feeds); },
                             async () => { await s.run(feeds); });
        console.log(`${name}_b${b}_lockstep_ms\t${(1e3 * median(t) / b).toFixed(3)}`);
        console.log(`${name}_b${b}_lockstep_passes\t${t.length}`);
        return;
    }
    for (const b of batches.split(',').map(Number)) {
        const feeds = ortSession.randomFeeds(ort, s, b);
        await s.run(feeds);
        let reps = 0, t;
        const t0 = process.hrtime.bigint();
        do {
            await s.run(feeds);
            reps++;
            t = Number(process.hrtime.bigint() - t0) / 1e9;
        } while (t < +secs);
        console.log(`${name}_b${b}_img_per_s\t${(reps * b / t).toFixed(2)}`);
    }
}
main().catch((e) => { console.error('zoo_ort.js: ' + e.message); process.exit(1); });
