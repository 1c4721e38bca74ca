import { shippedSuite } from './cases.js';

shippedSuite(3, 8);
