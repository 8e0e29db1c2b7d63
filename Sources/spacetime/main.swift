import SpaceTimeCLI

await SpaceTimeTool.main()
