// A Hardhat 2 project whose only network is a running sumchain devnet (DEVNET_URL), used
// by tests/node/test_dev_clients.py; nothing is compiled (`hardhat run --no-compile`).
require("@nomicfoundation/hardhat-ethers");

const scratch = process.env.HARDHAT_SCRATCH || require("os").tmpdir();

module.exports = {
  defaultNetwork: "devnet",
  networks: {
    devnet: { url: process.env.DEVNET_URL || "http://127.0.0.1:8545", timeout: 60000 },
  },
  paths: { cache: `${scratch}/cache`, artifacts: `${scratch}/artifacts` },
};
