package tftpd

import "github.com/pxeproxy/pxeproxy/internal/testtree"

var writeFile, testTree = testtree.Write, testtree.Hostile
