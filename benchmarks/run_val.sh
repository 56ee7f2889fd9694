#!/usr/bin/env bash
# The exact commands behind the published numbers (benchmarks/README.md, docs/model-card.md).
# Run from the repository root with the clips in ../shared/data/val. On a 2-core CPU the
# bench takes about 30 minutes, the key-placement comparison 5 and the refinement probes about
# 17 more.
set -euo pipefail
VAL=${VAL:-../shared/data/val}
OUT=${OUT:-/tmp/imf-bench}

# Rate-distortion of imfcodec (single key frame and adaptive) against x264, x265, SVT-AV1.
imfcodec bench "$VAL"/*.mp4 --model imf-small,imf-flow --out "$OUT" --force
mkdir -p benchmarks/val
cp "$OUT"/results.json "$OUT"/bd_rate.json "$OUT"/rd_psnr.png "$OUT"/rd_msssim.png benchmarks/val/
python benchmarks/summarize.py benchmarks/val/results.json > benchmarks/val/summary.md

# Key placement: the same settings with each key frame at its run's start (docs/keyplace.md).
imfcodec bench "$VAL"/*.mp4 --codecs imf,imf-adaptive --qualities 0,3 --key-placement start --out "$OUT-start" --force
mkdir -p benchmarks/val/keyplace
cp "$OUT-start"/results.json benchmarks/val/keyplace/start_q0_q3.json

# Rate control: every val clip at 4, 8 and 16 kbps.
python benchmarks/rate_control.py "$VAL" --targets 4k,8k,16k --json > benchmarks/val/rate_control.json

# Key frames alone: x265 and SVT-AV1 intra, bytes against quality; x265 tunings compared.
python benchmarks/keyframe_codecs.py "$VAL" --json > benchmarks/val/keyframe_codecs.json
python benchmarks/keyframe_codecs.py "$VAL" --stride 20 --json \
    --hevc-tunings "preset=medium;preset=veryslow;preset=medium,tune=ssim;preset=veryslow,tune=ssim;preset=placebo,tune=ssim" \
    > benchmarks/val/keyframe_tunings.json

# The refresh rule of --adaptive with centred key frames (docs/adaptive.md; about 50 min).
python benchmarks/adaptive_sweep.py "$VAL" --frames 100000 --qualities 0,3 --thresholds "" \
    --lambdas 30,100,300,1000 --gaps 1,0.5,0.25 --out "$OUT-sweep.json"

# How far from its key frame the model still rebuilds frames (MS-SSIM against distance).
python benchmarks/motion_reach.py "$VAL" --json > benchmarks/val/motion_reach.json

# Encoder-side refinement: settings probed on the first 24 frames after each clip's key frame.
python benchmarks/refine_probe.py "$VAL" --quality 0 --settings 0,10:0.2:0,10:0.2:1e-3,10:0.2:3e-3 --json > benchmarks/val/refine/probe_q0.json
python benchmarks/refine_probe.py "$VAL" --quality 3 --settings 0,5:0.2:1e-3,5:0.4:1e-3,10:0.2:1e-3,10:0.4:1e-3,20:0.2:1e-3 --json > benchmarks/val/refine/probe_q3.json

# Speed and memory of each preset on this machine.
python benchmarks/speed.py --json > benchmarks/val/speed.json
