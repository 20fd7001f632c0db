// A JSON-RPC server over HTTP around one EDR provider (Hardhat's node), for one hard fork.
const http = require("http");
const edr = require(process.env.EDR_PATH);
const config = JSON.parse(process.env.EDR_CONFIG);
const hex = (s) => Uint8Array.from(Buffer.from(s.replace(/^0x/, ""), "hex"));
(async () => {
  const context = new edr.EdrContext();
  await context.registerProviderFactory(edr.L1_CHAIN_TYPE, edr.l1ProviderFactory());
  const hardfork = edr.l1HardforkToString(edr.l1HardforkFromString(config.hardfork));
  const genesis = edr.l1GenesisState(edr.l1HardforkFromString(config.hardfork));
  for (const account of config.accounts) {
    genesis.push({ address: hex(account.address), balance: BigInt(account.balance),
                   code: new Uint8Array() });
  }
  const provider = await context.createProvider(edr.L1_CHAIN_TYPE, {
    allowBlocksWithSameTimestamp: true, allowUnlimitedContractSize: false,
    bailOnCallFailure: false, bailOnTransactionFailure: false,
    chainId: BigInt(config.chainId), coinbase: hex("0x" + "00".repeat(19) + "01"),
    defaultTransactionGasLimit: BigInt(config.gasLimit), genesisState: genesis, hardfork,
    initialBaseFeePerGas: config.baseFee === null ? undefined : BigInt(config.baseFee),
    minGasPrice: 0n,
    mining: { autoMine: true, blockGasLimit: BigInt(config.gasLimit),
              memPool: { order: edr.MineOrdering.Priority } },
    network: { genesisBlockGasLimit: BigInt(config.gasLimit),
               genesisBlockTime: BigInt(config.genesisTime) },
    networkId: BigInt(config.chainId), observability: {}, ownedAccounts: [],
    precompileOverrides: [],
  }, { enable: false, decodeConsoleLogInputsCallback: () => [], printLineCallback: () => {} },
     { subscriptionCallback: () => {} }, await edr.ContractDecoder.withContracts({}));
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => { body += chunk; });
    req.on("end", async () => {
      try {
        const response = await provider.handleRequest(body);
        const data = typeof response.data === "string"
          ? response.data : JSON.stringify(response.data);
        res.writeHead(200, { "content-type": "application/json" });
        res.end(data);
      } catch (err) {
        res.writeHead(500); res.end(String(err));
      }
    });
  });
  server.listen(config.port, "127.0.0.1", () => console.log("listening " + config.port));
})().catch((err) => { console.error(err); process.exit(1); });
