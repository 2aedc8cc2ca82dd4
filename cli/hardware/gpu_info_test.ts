import assert from "node:assert/strict";
import { gpuArchitecture } from "./gpu_info.ts";

Deno.test("gpuArchitecture - names the generation from real product names", () => {
  const cases: [string, string | null][] = [
    ["NVIDIA H100 80GB HBM3", "Hopper"],
    ["NVIDIA H100 PCIe", "Hopper"],
    ["NVIDIA GH200 480GB", "Hopper"],
    ["NVIDIA H200", "Hopper"],
    ["NVIDIA A100-SXM4-80GB", "Ampere"],
    ["NVIDIA A10G", "Ampere"],
    ["NVIDIA RTX A6000", "Ampere"],
    ["NVIDIA GeForce RTX 3090 Ti", "Ampere"],
    ["NVIDIA GeForce RTX 3060 Laptop GPU", "Ampere"],
    ["NVIDIA GeForce RTX 4090", "Ada Lovelace"],
    ["NVIDIA GeForce RTX 4060 Ti", "Ada Lovelace"],
    ["NVIDIA L4", "Ada Lovelace"],
    ["NVIDIA L40S", "Ada Lovelace"],
    ["NVIDIA RTX 6000 Ada Generation", "Ada Lovelace"],
    ["NVIDIA RTX 5000 Ada Generation", "Ada Lovelace"],
    ["NVIDIA GeForce RTX 2080 Ti", "Turing"],
    ["Tesla T4", "Turing"],
    ["Quadro RTX 5000", "Turing"],
    ["Quadro RTX 4000", "Turing"],
    ["Tesla V100-SXM2-32GB", "Volta"],
    ["Tesla P100-PCIE-16GB", "Pascal"],
    ["NVIDIA GeForce RTX 5090", "Blackwell"],
    ["NVIDIA B200", "Blackwell"],
    ["NVIDIA RTX PRO 6000 Blackwell Server Edition", "Blackwell"],
    ["AMD Instinct MI300X", "CDNA3"],
    ["AMD Instinct MI325X", "CDNA3"],
    ["AMD Instinct MI250X", "CDNA2"],
    ["AMD Instinct MI355X", "CDNA4"],
    ["AMD Radeon RX 7900 XTX", "RDNA3"],
    ["Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]", "RDNA3"],
    ["AMD Radeon PRO W7900", "RDNA3"],
    ["AMD Radeon RX 6800 XT", "RDNA2"],
    ["Apple M2 Max", "Apple M2"],
    ["Matrox G200eR2", null],
    ["AMD GPU", null],
    ["", null],
  ];
  for (const [name, arch] of cases) assert.equal(gpuArchitecture(name), arch, name);
});
