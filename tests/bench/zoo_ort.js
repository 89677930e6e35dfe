// make bench (zoo): ONNX Runtime (npm onnxruntime-node, CPU) on an ONNX
// file: InferenceSession.run images/s at each batch, intraOpNumThreads as
// cnntools' thread count, repeated for about SECS after one warm-up run.
// Usage: node zoo_ort.js ORT_DIR SECS THREADS FILE.onnx NAME BATCHES
// (ORT_DIR: the folder npm installed onnxruntime-node into; BATCHES "1,4").
// Prints "NAME_bN_img_per_s<TAB>value" lines, the keys bench_engine prints.
'use strict';
const path = require('path');
const [dir, secs, threads, file, name, batches] = process.argv.slice(2);
const ort = require(path.resolve(dir, 'node_modules', 'onnxruntime-node'));

async function main() {
    const s = await ort.InferenceSession.create(file, {
        intraOpNumThreads: +threads, interOpNumThreads: 1, executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        // Spinning idle threads (ONNX Runtime's default) take the cores from
        // the working ones when other processes run too; they sleep unless
        // BENCH_SPIN=1. (cnntools' threads spin about 20 us before they
        // sleep, env.sh's bench_wait; ONNX Runtime has no such middle
        // setting. With its spinning on, its mobilenet_v2 batch-1 forward on
        // 2 threads ran 15-20% faster here.)
        extra: { session: { intra_op: { allow_spinning: process.env.BENCH_SPIN === '1' ? '1' : '0' } } },
    });
    for (const b of batches.split(',').map(Number)) {
        const x = new Float32Array(b * 3 * 224 * 224);
        for (let i = 0; i < x.length; i++) x[i] = Math.random();
        const feeds = { [s.inputNames[0]]: new ort.Tensor('float32', x, [b, 3, 224, 224]) };
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
