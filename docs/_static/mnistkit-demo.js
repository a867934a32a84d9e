/*
 * mnistkit "Draw a digit" demo: a canvas, MNIST-style preprocessing and an ONNX model run by
 * ONNX Runtime Web, all served by the documentation site itself (no CDN, works offline).
 *
 * The preprocessing is a second implementation of mnistkit.imaging's (Python); the docs tests
 * feed both the same images and compare. The steps, as the Python module describes them:
 *   1. polarity: background = median of a border frame (5% of the shorter side, >= 1 px);
 *      invert when it is brighter than the mean of the interior; within 1e-5 of it (a tie),
 *      invert when it is brighter than mid-grey;
 *   2. contrast: background -> 0, brightest pixel -> 1; reject below MIN_CONTRAST;
 *   3. crop to the pixels above INK_THRESHOLD, resize so the longer side is 20 px with
 *      Pillow's LANCZOS resampling (re-implemented below), clip to [0, 1];
 *   4. paste into 28x28 at the whole-pixel offset that puts the centre of mass nearest
 *      pixel (14, 14), clipped so no ink leaves the canvas; quantise to 8 bits.
 * Arithmetic follows NumPy's float32 where the Python code computes in float32 (Math.fround),
 * and Python's round() (half to even) where it rounds.
 *
 * "Not sure": demo.json, written by the docs build beside the model, holds its rejection
 * threshold (mnistkit.metrics.RejectionThreshold: a kind of score, a temperature and the
 * threshold, chosen on held-out training digits). A drawing whose score is below it is
 * answered "not sure" instead of a digit. The score is computed from the logits as
 * mnistkit.metrics.ood_scores does: energy T * logsumexp(logits / T), or the maximum
 * softmax probability at temperature T ("msp").
 *
 * Test hooks: window.mnistkitDemo.ready (a Promise, resolves when the model and its
 * threshold are loaded), .predict(pixels) (784 numbers in [0, 1], row-major, white ink on
 * black -> Promise of ten probabilities), .classify(pixels) (-> Promise of {probabilities,
 * label, score, rejected}), .rejection (the threshold, once ready), .preprocess(grey, width,
 * height) (-> Float32Array(784)), .settled() (-> Promise of the canvas's current answer,
 * {label, probabilities, score, rejected}, once drawing updates have finished).
 */
(function () {
  "use strict";

  var SIZE = 28;
  var BOX = 20;
  var INK_THRESHOLD = 0.25;
  var MIN_CONTRAST = 0.1;
  var TIE = 1e-5; // background and interior mean this close count as equal (imaging._TIE)
  var BORDER_FRACTION = 0.05;
  var f32 = Math.fround;

  // ------------------------------------------------------------------ preprocessing
  function roundHalfEven(x) {
    var frac = Math.abs(x % 1);
    if (frac === 0.5) {
      return 2 * Math.round(x / 2);
    }
    return Math.round(x);
  }

  function median(values) {
    var sorted = Float32Array.from(values).sort();
    var n = sorted.length;
    var mid = n >> 1;
    if (n % 2 === 1) {
      return sorted[mid];
    }
    return f32(f32(sorted[mid - 1] + sorted[mid]) / 2);
  }

  function sinc(x) {
    if (x === 0) {
      return 1;
    }
    x *= Math.PI;
    return Math.sin(x) / x;
  }

  function lanczos(x) {
    return x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0;
  }

  // Pillow's resampling coefficients for one axis (separable filter, support widened by the
  // scale factor when shrinking, weights normalised to sum to one).
  function coefficients(inSize, outSize) {
    var scale = inSize / outSize;
    var filterScale = Math.max(scale, 1);
    var support = 3 * filterScale;
    var result = [];
    for (var xx = 0; xx < outSize; xx++) {
      var center = (xx + 0.5) * scale;
      var xmin = Math.max(Math.trunc(center - support + 0.5), 0);
      var xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
      var weights = new Float64Array(xmax);
      var total = 0;
      for (var x = 0; x < xmax; x++) {
        var w = lanczos((x + xmin - center + 0.5) / filterScale);
        weights[x] = w;
        total += w;
      }
      if (total !== 0) {
        for (x = 0; x < xmax; x++) {
          weights[x] /= total;
        }
      }
      result.push({ start: xmin, weights: weights });
    }
    return result;
  }

  // Resize a float32 image (row-major) like Pillow's Image.resize(..., LANCZOS) in mode "F":
  // a horizontal pass, then a vertical one, each stored as float32; a pass whose size does
  // not change is skipped, as Pillow skips it.
  function resize(src, width, height, outWidth, outHeight) {
    var image = src;
    var w = width;
    if (outWidth !== width) {
      var cols = coefficients(width, outWidth);
      var horizontal = new Float32Array(outWidth * height);
      for (var y = 0; y < height; y++) {
        for (var xx = 0; xx < outWidth; xx++) {
          var c = cols[xx];
          var sum = 0;
          for (var k = 0; k < c.weights.length; k++) {
            sum += image[y * w + c.start + k] * c.weights[k];
          }
          horizontal[y * outWidth + xx] = sum;
        }
      }
      image = horizontal;
      w = outWidth;
    }
    if (outHeight !== height) {
      var rows = coefficients(height, outHeight);
      var vertical = new Float32Array(w * outHeight);
      for (var yy = 0; yy < outHeight; yy++) {
        var r = rows[yy];
        for (var x = 0; x < w; x++) {
          var total = 0;
          for (var j = 0; j < r.weights.length; j++) {
            total += image[(r.start + j) * w + x] * r.weights[j];
          }
          vertical[yy * w + x] = total;
        }
      }
      image = vertical;
    }
    return image;
  }

  function centringOffset(profile, canvas) {
    var total = 0;
    var moment = 0;
    for (var i = 0; i < profile.length; i++) {
      total += profile[i];
      moment += i * profile[i];
    }
    var centre = total > 0 ? moment / total : (profile.length - 1) / 2;
    var offset = roundHalfEven(Math.floor(canvas / 2) - centre);
    return Math.min(Math.max(offset, 0), canvas - profile.length);
  }

  function NoDigitError(message) {
    this.name = "NoDigitError";
    this.message = message;
  }
  NoDigitError.prototype = Object.create(Error.prototype);

  // grey: width*height numbers in [0, 1] (row-major); returns Float32Array(784) of 8-bit
  // levels / 255, white ink on black, or throws NoDigitError for an image without a digit.
  function preprocess(grey, width, height) {
    if (grey.length !== width * height) {
      throw new RangeError(
        "preprocess: expected " + width * height + " values, got " + grey.length
      );
    }
    var g = Float32Array.from(grey);
    var border = Math.max(1, roundHalfEven(BORDER_FRACTION * Math.min(height, width)));
    var frame = [];
    var x, y;
    for (y = 0; y < border; y++) {
      for (x = 0; x < width; x++) frame.push(g[y * width + x]);
    }
    for (y = height - border; y < height; y++) {
      for (x = 0; x < width; x++) frame.push(g[y * width + x]);
    }
    for (y = 0; y < height; y++) {
      for (x = 0; x < border; x++) frame.push(g[y * width + x]);
    }
    for (y = 0; y < height; y++) {
      for (x = width - border; x < width; x++) frame.push(g[y * width + x]);
    }
    var background = median(frame);
    var interiorSum = 0;
    var interiorCount = 0;
    for (y = border; y < height - border; y++) {
      for (x = border; x < width - border; x++) {
        interiorSum += g[y * width + x];
        interiorCount++;
      }
    }
    var content;
    if (interiorCount > 0) {
      content = interiorSum / interiorCount;
    } else {
      var all = 0;
      for (var i = 0; i < g.length; i++) all += g[i];
      content = all / g.length;
    }
    var tie = Math.abs(background - content) <= TIE;
    var invert = tie ? background > 0.5 : background > content;
    if (invert) {
      for (i = 0; i < g.length; i++) g[i] = f32(1 - g[i]);
      background = 1 - background;
    }
    var peak = -Infinity;
    for (i = 0; i < g.length; i++) peak = Math.max(peak, g[i]);
    if (peak - background < MIN_CONTRAST) {
      throw new NoDigitError("no digit: nothing differs from the background enough");
    }
    var bg32 = f32(background);
    var range32 = f32(peak - background);
    var ink = new Float32Array(g.length);
    var top = height, bottom = -1, left = width, right = -1;
    for (y = 0; y < height; y++) {
      for (x = 0; x < width; x++) {
        var v = f32(f32(g[y * width + x] - bg32) / range32);
        v = Math.min(Math.max(v, 0), 1);
        ink[y * width + x] = v;
        if (v > INK_THRESHOLD) {
          if (y < top) top = y;
          if (y > bottom) bottom = y;
          if (x < left) left = x;
          if (x > right) right = x;
        }
      }
    }
    var cropHeight = bottom - top + 1;
    var cropWidth = right - left + 1;
    var cropped = new Float32Array(cropWidth * cropHeight);
    for (y = 0; y < cropHeight; y++) {
      for (x = 0; x < cropWidth; x++) {
        cropped[y * cropWidth + x] = ink[(top + y) * width + left + x];
      }
    }
    var scale = BOX / Math.max(cropHeight, cropWidth);
    var outWidth = Math.max(1, roundHalfEven(cropWidth * scale));
    var outHeight = Math.max(1, roundHalfEven(cropHeight * scale));
    var digit = resize(cropped, cropWidth, cropHeight, outWidth, outHeight);
    var rowProfile = new Float64Array(outHeight);
    var colProfile = new Float64Array(outWidth);
    for (y = 0; y < outHeight; y++) {
      for (x = 0; x < outWidth; x++) {
        var d = Math.min(Math.max(digit[y * outWidth + x], 0), 1);
        digit[y * outWidth + x] = d;
        rowProfile[y] += d;
        colProfile[x] += d;
      }
    }
    var offsetTop = centringOffset(rowProfile, SIZE);
    var offsetLeft = centringOffset(colProfile, SIZE);
    var out = new Float32Array(SIZE * SIZE);
    for (y = 0; y < outHeight; y++) {
      for (x = 0; x < outWidth; x++) {
        var level = roundHalfEven(f32(digit[y * outWidth + x] * 255));
        out[(offsetTop + y) * SIZE + offsetLeft + x] = f32(level / 255);
      }
    }
    return out;
  }

  // ------------------------------------------------------------------ the model
  function softmax(scores) {
    var max = -Infinity;
    for (var i = 0; i < scores.length; i++) max = Math.max(max, scores[i]);
    var exps = [];
    var total = 0;
    for (i = 0; i < scores.length; i++) {
      var e = Math.exp(scores[i] - max);
      exps.push(e);
      total += e;
    }
    return exps.map(function (e) {
      return e / total;
    });
  }

  // The score of mnistkit.metrics.ood_scores: higher means more like the training digits.
  function score(logits, rule) {
    var t = rule.temperature;
    var max = -Infinity;
    for (var i = 0; i < logits.length; i++) max = Math.max(max, logits[i] / t);
    var total = 0;
    for (i = 0; i < logits.length; i++) total += Math.exp(logits[i] / t - max);
    if (rule.score === "msp") {
      return 1 / total; // exp(max - max) / sum
    }
    return t * (max + Math.log(total)); // energy: T * logsumexp(logits / T)
  }

  var root = document.getElementById("mnistkit-demo");
  var session = null;
  var rejection = null;

  var ready = new Promise(function (resolve, reject) {
    if (!root) {
      reject(new Error("mnistkit demo: no #mnistkit-demo element on this page"));
      return;
    }
    if (typeof ort === "undefined") {
      reject(new Error("mnistkit demo: ONNX Runtime Web (ort.wasm.min.js) did not load"));
      return;
    }
    var base = new URL(root.getAttribute("data-files"), document.baseURI).href;
    // The WebAssembly glue is served as ".js" (not ".mjs", which some servers, Python's
    // http.server among them, send with a type browsers refuse for a module).
    ort.env.wasm.wasmPaths = {
      mjs: base + "ort-wasm-simd-threaded.js",
      wasm: base + "ort-wasm-simd-threaded.wasm",
    };
    ort.env.wasm.numThreads = 1; // no SharedArrayBuffer needed: the page is not isolated
    ort.env.logLevel = "error";
    var threshold = fetch(base + "demo.json").then(function (response) {
      if (!response.ok) {
        throw new Error("demo.json: HTTP " + response.status);
      }
      return response.json();
    });
    var model = ort.InferenceSession.create(base + "model.onnx", {
      executionProviders: ["wasm"],
    });
    Promise.all([model, threshold]).then(function (loaded) {
      session = loaded[0];
      rejection = loaded[1].rejection;
      window.mnistkitDemo.rejection = rejection;
      resolve();
    }, reject);
  });

  function predict(pixels) {
    if (!pixels || pixels.length !== SIZE * SIZE) {
      return Promise.reject(
        new RangeError("predict: expected 784 pixel values, got " + (pixels && pixels.length))
      );
    }
    return classify(pixels).then(function (answer) {
      return answer.probabilities;
    });
  }

  // The model's answer for 784 pixels: probabilities, best digit, score and whether the
  // score is below the threshold ("not sure").
  function classify(pixels) {
    if (!pixels || pixels.length !== SIZE * SIZE) {
      return Promise.reject(
        new RangeError("classify: expected 784 pixel values, got " + (pixels && pixels.length))
      );
    }
    return ready.then(function () {
      var input = new ort.Tensor("float32", Float32Array.from(pixels), [1, 1, SIZE, SIZE]);
      var feeds = {};
      feeds[session.inputNames[0]] = input;
      return session.run(feeds).then(function (results) {
        var logits = Array.from(results[session.outputNames[0]].data);
        var probabilities = softmax(logits);
        var best = 0;
        for (var k = 1; k < probabilities.length; k++) {
          if (probabilities[k] > probabilities[best]) best = k;
        }
        var value = score(logits, rejection);
        return {
          probabilities: probabilities,
          label: best,
          score: value,
          rejected: value < rejection.threshold,
        };
      });
    });
  }

  // ------------------------------------------------------------------ the page
  var state = { pending: null, dirty: false, last: null };

  function setup() {
    var canvas = root.querySelector("canvas.mnistkit-demo-pad");
    var preview = root.querySelector("canvas.mnistkit-demo-preview");
    var label = root.querySelector(".mnistkit-demo-label");
    var status = root.querySelector(".mnistkit-demo-status");
    var bars = root.querySelector(".mnistkit-demo-bars");
    var clear = root.querySelector(".mnistkit-demo-clear");
    var pad = canvas.getContext("2d", { willReadFrequently: true });
    var view = preview.getContext("2d");
    var rows = [];

    for (var i = 0; i < 10; i++) {
      var row = document.createElement("div");
      row.className = "mnistkit-demo-bar";
      row.innerHTML =
        '<span class="mnistkit-demo-digit">' + i + "</span>" +
        '<span class="mnistkit-demo-track"><span class="mnistkit-demo-fill"></span></span>' +
        '<span class="mnistkit-demo-value">0%</span>';
      bars.appendChild(row);
      rows.push(row);
    }

    function blank() {
      pad.fillStyle = "#000";
      pad.fillRect(0, 0, canvas.width, canvas.height);
      view.fillStyle = "#000";
      view.fillRect(0, 0, preview.width, preview.height);
      show(null);
    }

    // answer: what classify() gives, or null for an empty pad
    function show(answer) {
      var probabilities = answer ? answer.probabilities : null;
      var best = answer ? answer.label : -1;
      var unsure = answer !== null && answer.rejected;
      for (var j = 0; j < rows.length; j++) {
        var p = probabilities ? probabilities[j] : 0;
        rows[j].querySelector(".mnistkit-demo-fill").style.width = (100 * p).toFixed(1) + "%";
        rows[j].querySelector(".mnistkit-demo-value").textContent = Math.round(100 * p) + "%";
        rows[j].classList.toggle("mnistkit-demo-best", j === best);
      }
      // below the threshold: "not sure", smaller, so that it fits where a digit stands
      label.textContent = unsure ? "not sure" : best >= 0 ? String(best) : "?";
      label.style.fontSize = unsure ? "2em" : "";
      label.title = unsure ? "best guess " + best + " (too unlike the digits it learnt)" : "";
      root.setAttribute("data-prediction", best >= 0 ? String(best) : "");
      root.setAttribute("data-rejected", unsure ? "true" : "false");
    }

    function drawPreview(pixels) {
      var image = view.createImageData(SIZE, SIZE);
      for (var k = 0; k < pixels.length; k++) {
        var level = Math.round(pixels[k] * 255);
        image.data[4 * k] = image.data[4 * k + 1] = image.data[4 * k + 2] = level;
        image.data[4 * k + 3] = 255;
      }
      view.putImageData(image, 0, 0);
    }

    function classifyCanvas() {
      var data = pad.getImageData(0, 0, canvas.width, canvas.height).data;
      var grey = new Float32Array(canvas.width * canvas.height);
      for (var k = 0; k < grey.length; k++) grey[k] = data[4 * k] / 255;
      var pixels;
      try {
        pixels = preprocess(grey, canvas.width, canvas.height);
      } catch (error) {
        if (error instanceof NoDigitError) {
          show(null);
          state.last = null;
          return Promise.resolve(null);
        }
        throw error;
      }
      drawPreview(pixels);
      return classify(pixels).then(function (answer) {
        show(answer);
        state.last = answer;
        return state.last;
      });
    }

    // One classification at a time; strokes drawn meanwhile trigger one more afterwards.
    function update() {
      if (state.pending) {
        state.dirty = true;
        return state.pending;
      }
      state.pending = classifyCanvas().then(
        function (result) {
          state.pending = null;
          if (state.dirty) {
            state.dirty = false;
            return update();
          }
          return result;
        },
        function (error) {
          state.pending = null;
          status.textContent = "The model could not run: " + error.message;
          throw error;
        }
      );
      return state.pending;
    }

    var drawing = false;
    var scheduled = false;

    function point(event) {
      var rect = canvas.getBoundingClientRect();
      return [
        ((event.clientX - rect.left) * canvas.width) / rect.width,
        ((event.clientY - rect.top) * canvas.height) / rect.height,
      ];
    }

    function schedule() {
      if (!scheduled) {
        scheduled = true;
        requestAnimationFrame(function () {
          scheduled = false;
          update().catch(function () {});
        });
      }
    }

    pad.lineCap = "round";
    pad.lineJoin = "round";
    pad.strokeStyle = "#fff";
    pad.lineWidth = canvas.width / 15;

    canvas.addEventListener("pointerdown", function (event) {
      drawing = true;
      canvas.setPointerCapture(event.pointerId);
      var p = point(event);
      pad.beginPath();
      pad.moveTo(p[0], p[1]);
      pad.lineTo(p[0], p[1]);
      pad.stroke();
      event.preventDefault();
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!drawing) return;
      var events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
      if (events.length === 0) events = [event];
      for (var k = 0; k < events.length; k++) {
        var p = point(events[k]);
        pad.lineTo(p[0], p[1]);
      }
      pad.stroke();
      pad.beginPath();
      var last = point(event);
      pad.moveTo(last[0], last[1]);
      schedule();
      event.preventDefault();
    });
    function end() {
      if (!drawing) return;
      drawing = false;
      schedule();
    }
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    clear.addEventListener("click", function () {
      blank();
      state.last = null;
    });

    blank();
    ready.then(
      function () {
        status.textContent = "Model loaded: draw a digit in the black square.";
        root.classList.add("mnistkit-demo-ready");
      },
      function (error) {
        status.textContent = "The model could not be loaded: " + error.message;
      }
    );

    return function settled() {
      return ready.then(function () {
        return new Promise(function (resolve) {
          requestAnimationFrame(function () {
            requestAnimationFrame(function () {
              resolve(state.pending ? state.pending : update());
            });
          });
        });
      });
    };
  }

  var settled = root
    ? setup()
    : function () {
        return ready;
      };

  window.mnistkitDemo = {
    ready: ready,
    predict: predict,
    classify: classify,
    rejection: rejection,
    preprocess: preprocess,
    settled: settled,
  };
})();
