const c0 = process.cpuUsage(); const t0 = performance.now();
const b = process.argv[2];
if (process.argv[3] === 'all') await import(b + '/nodes.js');
else { for (const t of ['keyframe-scheduler', 'two-branch-segmenter', 'label-propagation']) await import(`${b}/${t}.js`); }
const c = process.cpuUsage(c0);
console.log(process.argv[3], ((c.user + c.system) / 1000).toFixed(0), 'ms cpu', (performance.now() - t0).toFixed(0), 'ms wall');
