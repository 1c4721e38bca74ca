/**
 * The report page's script, as text: plain browser JavaScript with no library, run once the page
 * has loaded. It reads the report's data (one JSON block) and draws on two canvases: the timeline
 * (fault bands, node lanes with roles, client lanes with every operation) and the metrics
 * (throughput and latency p50/p99 of the window shown). Drag across either to zoom in, double-click
 * to see the whole run again; click a failing check to highlight what it names.
 *
 * METRICS_JS is kept apart so that a unit test can run the same text (test/sim/report.test.ts).
 */

/** Per time bucket of [t0, t1): operations completed per second by outcome, and latency p50/p99 of the successful ones. */
export const METRICS_JS = `
function bucketMetrics(ops, t0, t1, buckets) {
  var width = (t1 - t0) / buckets;
  var lat = [];
  var ok = new Array(buckets).fill(0), fail = new Array(buckets).fill(0), info = new Array(buckets).fill(0);
  for (var b = 0; b < buckets; b++) lat.push([]);
  for (var i = 0; i < ops.endUs.length; i++) {
    var end = ops.endUs[i];
    if (end < 0 || end < t0 || end >= t1) continue;
    var k = Math.min(buckets - 1, Math.floor((end - t0) / width));
    var s = ops.status[i];
    if (s === 0) { ok[k]++; lat[k].push((end - ops.startUs[i]) / 1000); }
    else if (s === 1) fail[k]++;
    else info[k]++;
  }
  var perS = 1e6 / width;
  var q = function (list, p) { return list.length === 0 ? null : list[Math.min(list.length - 1, Math.floor(p * list.length))]; };
  var p50 = [], p99 = [];
  for (var j = 0; j < buckets; j++) {
    lat[j].sort(function (a, c) { return a - c; });
    p50.push(q(lat[j], 0.5));
    p99.push(q(lat[j], 0.99));
  }
  return {
    okPerS: ok.map(function (v) { return v * perS; }),
    failPerS: fail.map(function (v) { return v * perS; }),
    infoPerS: info.map(function (v) { return v * perS; }),
    p50Ms: p50,
    p99Ms: p99,
  };
}
`;

export const REPORT_SCRIPT = `
(function () {
  'use strict';
  ${METRICS_JS}
  var D = JSON.parse(document.getElementById('report-data').textContent);
  var O = D.ops;
  var N = O.lane.length;
  var STATUS = ['#66bb6a', '#9e9e9e', '#ffa726'];
  var STATUS_NAME = ['ok', 'fail', 'info'];
  var BAND = { partition: 'rgba(255,152,0,', crash: 'rgba(66,66,66,', pause: 'rgba(126,87,194,', disk: 'rgba(121,85,72,',
    clock: 'rgba(33,150,243,', network: 'rgba(0,150,136,', membership: 'rgba(233,30,99,', other: 'rgba(120,120,120,' };
  var ROLE = { leader: '#1565c0', candidate: '#fbc02d', preCandidate: '#fff176', follower: '#bbdefb', learner: '#e1bee7' };
  var LEFT = 120, RIGHT = 12, AXIS = 22, FAULT_ROW = 14, NODE_LANE = 26;
  var CLIENT_LANE = Math.max(4, Math.min(16, Math.floor(520 / Math.max(1, D.lanes.length))));
  var view = { t0: 0, t1: Math.max(1, D.endUs) };
  var hl = { ops: [], set: new Set(), nodes: [], atUs: null, check: null };
  var byLane = D.lanes.map(function () { return []; });
  for (var i = 0; i < N; i++) byLane[O.lane[i]].push(i);
  var nodeIndex = {};
  D.nodes.forEach(function (n, k) { nodeIndex[n] = k; });

  // Fault labels get rows of their own where they would overlap on screen (at most 8 rows; past
  // that they share the last). Recomputed for each window, so zooming in spreads them out.
  var bandRow = [];
  var faultRows = 1, nodesTop = 0, clientsTop = 0, height = 0;
  function layoutRows() {
    var rowEnds = [];
    D.bands.forEach(function (b, k) {
      if (b.endUs < view.t0 || b.startUs > view.t1) { bandRow[k] = 0; return; }
      var x0 = clipX(b.startUs), end = Math.max(clipX(b.endUs), x0 + 6 * b.label.length + 8);
      var r = 0;
      while (r < rowEnds.length && rowEnds[r] > x0) r++;
      if (r >= 8) r = 7;
      rowEnds[r] = end;
      bandRow[k] = r;
    });
    faultRows = Math.max(1, rowEnds.length);
    nodesTop = AXIS + faultRows * FAULT_ROW + 6;
    clientsTop = nodesTop + D.nodes.length * NODE_LANE + 8;
    height = clientsTop + D.lanes.length * CLIENT_LANE + 6;
  }

  var canvas = document.getElementById('timeline');
  var metrics = document.getElementById('metrics');
  var hover = document.getElementById('hover');
  var shown = document.getElementById('window');
  var W = 0;

  function size(c, h) {
    var ratio = window.devicePixelRatio || 1;
    W = Math.max(700, c.parentElement.clientWidth - 4);
    c.width = Math.round(W * ratio);
    c.height = Math.round(h * ratio);
    c.style.width = W + 'px';
    c.style.height = h + 'px';
    var ctx = c.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return ctx;
  }
  function x(t) { return LEFT + (t - view.t0) / (view.t1 - view.t0) * (W - LEFT - RIGHT); }
  function tAt(px) { return view.t0 + (px - LEFT) / (W - LEFT - RIGHT) * (view.t1 - view.t0); }
  function ms(us) { return us >= 1e6 ? (us / 1e6).toFixed(us >= 1e7 ? 2 : 3) + ' s' : (us / 1000).toFixed(us >= 1e4 ? 1 : 3) + ' ms'; }
  function clipX(t) { return Math.max(LEFT, Math.min(W - RIGHT, x(t))); }

  function axis(ctx, top, bottom) {
    var span = view.t1 - view.t0;
    var step = Math.pow(10, Math.floor(Math.log10(span / 8)));
    if (span / step > 16) step *= 5; else if (span / step > 8) step *= 2;
    ctx.font = '11px monospace';
    ctx.textAlign = 'center';
    for (var t = Math.ceil(view.t0 / step) * step; t <= view.t1; t += step) {
      var px = x(t);
      ctx.strokeStyle = '#eee';
      ctx.beginPath(); ctx.moveTo(px, top); ctx.lineTo(px, bottom); ctx.stroke();
      ctx.fillStyle = '#555';
      ctx.fillText(ms(t), px, top - 6);
    }
    ctx.textAlign = 'left';
  }

  function drawBands(ctx, top, bottom, labels) {
    D.bands.forEach(function (b, k) {
      var x0 = clipX(b.startUs), x1 = clipX(b.endUs);
      if (b.endUs < view.t0 || b.startUs > view.t1) return;
      var colour = BAND[b.category] || BAND.other;
      if (b.instant) {
        ctx.strokeStyle = colour + '0.7)';
        ctx.setLineDash([3, 3]);
        ctx.beginPath(); ctx.moveTo(x0, top); ctx.lineTo(x0, bottom); ctx.stroke();
        ctx.setLineDash([]);
      } else {
        ctx.fillStyle = colour + '0.13)';
        ctx.fillRect(x0, top, Math.max(1, x1 - x0), bottom - top);
      }
      if (!labels) return;
      var y = AXIS + bandRow[k] * FAULT_ROW;
      ctx.fillStyle = colour + '0.85)';
      ctx.fillRect(x0, y + 1, Math.max(2, x1 - x0), FAULT_ROW - 3);
      ctx.save();
      ctx.beginPath(); ctx.rect(x0, y, Math.max(60, x1 - x0 + 200), FAULT_ROW); ctx.clip();
      ctx.fillStyle = '#000';
      ctx.font = '10px sans-serif';
      ctx.fillText(b.label, x0 + 3, y + FAULT_ROW - 4);
      ctx.restore();
    });
  }

  function drawNodes(ctx) {
    D.nodes.forEach(function (n, k) {
      var y = nodesTop + k * NODE_LANE;
      ctx.fillStyle = hl.nodes.indexOf(n) >= 0 ? '#d50000' : '#222';
      ctx.font = 'bold 12px monospace';
      ctx.fillText('node ' + n, 6, y + 16);
      ctx.strokeStyle = '#ddd';
      ctx.strokeRect(LEFT, y + 1, W - LEFT - RIGHT, NODE_LANE - 3);
      if (hl.nodes.indexOf(n) >= 0) { ctx.strokeStyle = '#d50000'; ctx.lineWidth = 2; ctx.strokeRect(LEFT, y + 1, W - LEFT - RIGHT, NODE_LANE - 3); ctx.lineWidth = 1; }
    });
    D.spans.forEach(function (s) {
      var k = nodeIndex[s.node];
      if (k === undefined || s.endUs < view.t0 || s.startUs > view.t1) return;
      var y = nodesTop + k * NODE_LANE;
      ctx.fillStyle = s.state === 'down' ? '#424242' : '#9575cd';
      ctx.fillRect(clipX(s.startUs), y + 2, Math.max(1, clipX(s.endUs) - clipX(s.startUs)), NODE_LANE - 5);
    });
    D.roleSpans.forEach(function (r) {
      var k = nodeIndex[r.node];
      if (k === undefined || r.role === 'follower' || r.endUs < view.t0 || r.startUs > view.t1) return;
      var y = nodesTop + k * NODE_LANE;
      var x0 = clipX(r.startUs), x1 = clipX(r.endUs);
      ctx.fillStyle = ROLE[r.role] || '#90a4ae';
      ctx.fillRect(x0, y + 3, Math.max(1, x1 - x0), 9);
      if (r.role === 'leader' && x1 - x0 > 34) {
        ctx.fillStyle = '#fff';
        ctx.font = '10px sans-serif';
        ctx.fillText('leader t' + r.term, x0 + 3, y + 11);
      }
    });
    for (var i = 0; i < N; i++) {
      var k = O.node[i];
      if (k < 0 || O.endUs[i] < view.t0 || O.endUs[i] > view.t1) continue;
      ctx.fillStyle = STATUS[O.status[i]];
      ctx.fillRect(x(O.endUs[i]), nodesTop + k * NODE_LANE + 14, 1, 8);
    }
    D.markers.forEach(function (m) {
      if (m.atUs < view.t0 || m.atUs > view.t1) return;
      var px = x(m.atUs);
      if (m.kind === 'violation') {
        ctx.strokeStyle = '#d50000'; ctx.lineWidth = 2;
        ctx.beginPath(); ctx.moveTo(px, AXIS); ctx.lineTo(px, height); ctx.stroke(); ctx.lineWidth = 1;
        ctx.fillStyle = '#d50000'; ctx.font = 'bold 11px sans-serif';
        ctx.fillText('violation', Math.min(px + 3, W - 60), clientsTop - 2);
      } else if (m.node !== null && nodeIndex[m.node] !== undefined) {
        var y = nodesTop + nodeIndex[m.node] * NODE_LANE;
        ctx.fillStyle = m.kind === 'panic' ? '#d50000' : '#ef6c00';
        ctx.beginPath(); ctx.moveTo(px - 5, y); ctx.lineTo(px + 5, y); ctx.lineTo(px, y + 8); ctx.fill();
      }
    });
  }

  function drawClients(ctx) {
    ctx.font = '11px monospace';
    D.lanes.forEach(function (name, k) {
      var y = clientsTop + k * CLIENT_LANE;
      ctx.fillStyle = '#444';
      if (CLIENT_LANE >= 9) ctx.fillText(name, 6, y + CLIENT_LANE - 2);
      ctx.fillStyle = k % 2 === 0 ? '#fafafa' : '#f3f3f3';
      ctx.fillRect(LEFT, y, W - LEFT - RIGHT, CLIENT_LANE);
    });
    var h = Math.max(2, CLIENT_LANE - 2);
    for (var i = 0; i < N; i++) {
      var end = O.endUs[i] < 0 ? D.endUs : O.endUs[i];
      if (end < view.t0 || O.startUs[i] > view.t1) continue;
      var x0 = clipX(O.startUs[i]);
      ctx.fillStyle = STATUS[O.status[i]];
      ctx.fillRect(x0, clientsTop + O.lane[i] * CLIENT_LANE + 1, Math.max(1, clipX(end) - x0), h);
    }
  }

  function drawHighlights(ctx) {
    ctx.font = 'bold 11px monospace';
    hl.ops.forEach(function (i) {
      var end = O.endUs[i] < 0 ? D.endUs : O.endUs[i];
      var x0 = clipX(O.startUs[i]), x1 = Math.max(x0 + 6, clipX(end));
      var y = clientsTop + O.lane[i] * CLIENT_LANE;
      ctx.fillStyle = 'rgba(213,0,0,0.85)';
      ctx.fillRect(x0, y - 2, x1 - x0, CLIENT_LANE + 3);
      ctx.strokeStyle = '#000';
      ctx.strokeRect(x0, y - 2, x1 - x0, CLIENT_LANE + 3);
      ctx.fillStyle = '#b71c1c';
      ctx.fillText('#' + i + ' ' + D.functions[O.f[i]] + ' ' + D.keys[O.key[i]] + ' ' + O.value[i], Math.min(x1 + 3, W - 160), y + CLIENT_LANE - 1);
    });
    if (hl.atUs !== null && hl.atUs >= view.t0 && hl.atUs <= view.t1) {
      ctx.strokeStyle = '#d50000'; ctx.lineWidth = 3;
      ctx.beginPath(); ctx.moveTo(x(hl.atUs), AXIS); ctx.lineTo(x(hl.atUs), height); ctx.stroke(); ctx.lineWidth = 1;
    }
  }

  function draw() {
    W = Math.max(700, canvas.parentElement.clientWidth - 4);
    layoutRows();
    var ctx = size(canvas, height);
    ctx.clearRect(0, 0, W, height);
    axis(ctx, AXIS, height);
    ctx.fillStyle = '#222'; ctx.font = 'bold 12px sans-serif';
    ctx.fillText('faults', 6, AXIS + 11);
    drawClients(ctx);
    drawBands(ctx, nodesTop, height, true);
    drawNodes(ctx);
    drawHighlights(ctx);
    drawMetrics();
    shown.textContent = 'showing ' + ms(view.t0) + ' to ' + ms(view.t1) + ' of ' + ms(D.endUs) + ' (drag to zoom in, double-click for the whole run)';
    window.kvReport.drawn++;
  }

  function drawMetrics() {
    var H = 260, chart = 100, gap = 30;
    var ctx = size(metrics, H);
    // About twenty completions per bucket on average, so that a zoomed-in window does not show spikes.
    var done = 0;
    for (var i = 0; i < N; i++) if (O.endUs[i] >= view.t0 && O.endUs[i] < view.t1) done++;
    var B = Math.max(10, Math.min(Math.floor(done / 20), 200, Math.floor((W - LEFT - RIGHT) / 6)));
    var m = bucketMetrics(O, view.t0, view.t1, B);
    axis(ctx, 20, H);
    drawBands(ctx, 20, H, false);
    var bw = (W - LEFT - RIGHT) / B;
    function series(values, top, max, colour, dashed) {
      ctx.strokeStyle = colour; ctx.lineWidth = 1.5; ctx.setLineDash(dashed ? [4, 2] : []);
      ctx.beginPath();
      var pen = false;
      values.forEach(function (v, b) {
        if (v === null) { pen = false; return; }
        var px = LEFT + (b + 0.5) * bw, py = top + chart - (v / max) * chart;
        if (pen) ctx.lineTo(px, py); else ctx.moveTo(px, py);
        pen = true;
      });
      ctx.stroke(); ctx.setLineDash([]); ctx.lineWidth = 1;
    }
    function frame(top, title, max, unit) {
      ctx.strokeStyle = '#ccc'; ctx.strokeRect(LEFT, top, W - LEFT - RIGHT, chart);
      ctx.fillStyle = '#222'; ctx.font = 'bold 12px sans-serif'; ctx.fillText(title, 6, top + 12);
      ctx.font = '10px monospace'; ctx.fillStyle = '#555';
      ctx.fillText(max.toFixed(max < 10 ? 1 : 0) + ' ' + unit, 6, top + 26); ctx.fillText('0', 6, top + chart);
    }
    var tMax = 1;
    m.okPerS.forEach(function (v, b) { tMax = Math.max(tMax, v + m.failPerS[b] + m.infoPerS[b]); });
    frame(24, 'throughput', tMax, 'ops/s');
    series(m.okPerS, 24, tMax, '#2e7d32', false);
    series(m.failPerS, 24, tMax, '#757575', false);
    series(m.infoPerS, 24, tMax, '#ef6c00', false);
    var lMax = 0.001;
    m.p99Ms.forEach(function (v) { if (v !== null) lMax = Math.max(lMax, v); });
    var top2 = 24 + chart + gap;
    frame(top2, 'latency', lMax, 'ms');
    series(m.p50Ms, top2, lMax, '#1565c0', false);
    series(m.p99Ms, top2, lMax, '#c62828', true);
    window.kvReport.metrics = m;
  }

  // Hover: the operation, node state or fault under the pointer.
  function opAt(lane, t, slackUs) {
    var list = byLane[lane];
    var lo = 0, hi = list.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (O.startUs[list[mid]] <= t) lo = mid + 1; else hi = mid; }
    for (var k = lo - 1; k >= 0 && k >= lo - 50; k--) {
      var i = list[k], end = O.endUs[i] < 0 ? D.endUs : O.endUs[i];
      if (end + slackUs >= t) return i;
    }
    return lo < list.length && O.startUs[list[lo]] - slackUs <= t ? list[lo] : -1;
  }
  function describe(i) {
    var end = O.endUs[i] < 0 ? 'never completed' : ms(O.endUs[i]) + ' (' + ((O.endUs[i] - O.startUs[i]) / 1000).toFixed(2) + ' ms)';
    return 'op #' + i + ': ' + D.lanes[O.lane[i]] + ' (process ' + O.process[i] + ') ' + D.functions[O.f[i]] + ' ' + D.keys[O.key[i]] +
      ' ' + O.value[i] + ' → ' + STATUS_NAME[O.status[i]] + (O.node[i] >= 0 ? ' at ' + D.nodes[O.node[i]] : '') + ', from ' + ms(O.startUs[i]) + ' to ' + end;
  }
  canvas.addEventListener('mousemove', function (e) {
    var r = canvas.getBoundingClientRect();
    var px = e.clientX - r.left, py = e.clientY - r.top;
    if (px < LEFT) return;
    var t = tAt(px), slack = 3 * (view.t1 - view.t0) / (W - LEFT - RIGHT);
    if (py >= clientsTop) {
      var i = opAt(Math.floor((py - clientsTop) / CLIENT_LANE), t, slack);
      hover.textContent = i >= 0 && i < N ? describe(i) : 'at ' + ms(t);
    } else if (py >= nodesTop) {
      var n = D.nodes[Math.floor((py - nodesTop) / NODE_LANE)];
      var state = 'up';
      D.spans.forEach(function (s) { if (s.node === n && s.startUs <= t && s.endUs >= t) state = s.state; });
      var role = '';
      D.roleSpans.forEach(function (s) { if (s.node === n && s.startUs <= t && s.endUs > t) role = ', ' + s.role + ' in term ' + s.term; });
      hover.textContent = 'node ' + n + ' at ' + ms(t) + ': ' + state + role;
    } else {
      var names = D.bands.filter(function (b) { return b.startUs <= t + slack && b.endUs >= t - slack; }).map(function (b) { return b.label + ' (' + ms(b.startUs) + '–' + ms(b.endUs) + ')'; });
      hover.textContent = names.length > 0 ? 'faults: ' + names.join('; ') : 'no fault at ' + ms(t);
    }
  });

  // Zoom: drag across a canvas; double-click for the whole run.
  [canvas, metrics].forEach(function (c) {
    var from = null;
    c.addEventListener('mousedown', function (e) { from = e.clientX - c.getBoundingClientRect().left; });
    c.addEventListener('mouseup', function (e) {
      var to = e.clientX - c.getBoundingClientRect().left;
      if (from !== null && Math.abs(to - from) > 5) zoom(tAt(Math.min(from, to)), tAt(Math.max(from, to)));
      from = null;
    });
    c.addEventListener('dblclick', function () { zoom(0, D.endUs); });
  });
  document.getElementById('whole').addEventListener('click', function () { zoom(0, D.endUs); });
  function zoom(t0, t1) {
    view.t0 = Math.max(0, t0);
    view.t1 = Math.min(Math.max(1, D.endUs), Math.max(t1, view.t0 + 1));
    draw();
  }

  // A failing check: highlight what it names and bring it into view.
  function highlight(c) {
    hl.ops = c.ops; hl.set = new Set(c.ops); hl.nodes = c.nodes; hl.atUs = c.atUs; hl.check = c.name;
    document.querySelectorAll('.check').forEach(function (el) { el.classList.toggle('selected', el.getAttribute('data-check') === c.name); });
    var lo = Infinity, hi = -Infinity;
    c.ops.forEach(function (i) { lo = Math.min(lo, O.startUs[i]); hi = Math.max(hi, O.endUs[i] < 0 ? D.endUs : O.endUs[i]); });
    if (c.atUs !== null) { lo = Math.min(lo, c.atUs); hi = Math.max(hi, c.atUs); }
    var out = document.getElementById('highlight');
    if (lo <= hi) {
      var pad = Math.max(2000, (hi - lo) * 0.25);
      zoom(lo - pad, hi + pad);
    } else draw();
    out.textContent = c.name + ': ' + (c.ops.length > 0 ? c.ops.length + ' operation(s) highlighted' : 'no single operation named') +
      (c.nodes.length > 0 ? '; nodes ' + c.nodes.join(', ') : '') + (c.atUs !== null ? '; at ' + ms(c.atUs) : '') +
      (c.ops.length > 0 ? ' — ' + c.ops.slice(0, 8).map(describe).join(' | ') : '');
    canvas.scrollIntoView({ block: 'start' });
  }
  document.querySelectorAll('.check button.show').forEach(function (b) {
    b.addEventListener('click', function () {
      var name = b.closest('.check').getAttribute('data-check');
      D.checks.forEach(function (c) { if (c.name === name) highlight(c); });
    });
  });

  window.kvReport = { data: D, view: view, highlighted: hl, drawn: 0, metrics: null, zoom: zoom };
  window.addEventListener('resize', draw);
  draw();
})();
`;
