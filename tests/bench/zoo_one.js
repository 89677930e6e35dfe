// make bench (zoo): one image through ONNX Runtime as a command would run
// it: create the session (model load and graph optimisation), one run on a
// 1 x 3 x 224 x 224 input, exit. Usage: node zoo_one.js ORT_DIR THREADS FILE.onnx
'use strict';
const path = require('path');
const [dir, threads, file] = process.argv.slice(2);
const ort = require(path.resolve(dir, 'node_modules', 'onnxruntime-node'));

async function main() {
    const s = await ort.InferenceSession.create(file, {
        intraOpNumThreads: +threads, interOpNumThreads: 1, executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
    const x = new Float32Array(3 * 224 * 224).fill(0.5);
    const r = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x, [1, 3, 224, 224]) });
    const y = r[s.outputNames[0]].data;
    let best = 0;
    for (let i = 1; i < y.length; i++) if (y[i] > y[best]) best = i;
    console.log(`class ${best}`);
}
main();
